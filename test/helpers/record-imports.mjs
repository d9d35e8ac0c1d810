// Preloaded into a CLI run (NODE_OPTIONS=--import ...): every module the process resolves is
// appended, one URL a line, to the file $RECORD_IMPORTS, so a test can see what a command loaded.
import { register } from 'node:module';

register('./record-imports-hooks.mjs', import.meta.url);
