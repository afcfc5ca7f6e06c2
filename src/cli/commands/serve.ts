/**
 * headstart serve: starts the local web app (src/serve/serve.ts) and prints its URL with the
 * access token; runs until Ctrl-C, which stops runs started from the page (checkpoints kept).
 */
import { isLoopback, startServer } from '../../serve/serve.js';
import { defineCommand } from '../define-command.js';
import { UsageError } from '../usage.js';

const USAGE = `usage: headstart serve [options]

A local web app: your runs with their curves and confusion matrices, live training
(start a run from the page, watch a CLI run, stop it with its checkpoint kept), and a
"try it" page where the model runs in your browser (onnxruntime-web; nothing is uploaded).

options:
  --runs DIR           folder of run folders (default runs)
  --data DIR           dataset root offered for training (default: the embedded dataset)
  --port N             port (default 0: a free one)
  --host HOST          address to listen on (default 127.0.0.1; another host is reachable
                       from the network: a warning is printed, the token still required)
  --token TOKEN        access token (at least 16 characters; default: a random one)
  --json               print the address as one JSON line ({"event":"listening","url",...})
  --verbose            print stack traces on errors
  -h, --help           this help

The printed URL carries the token; every request needs it.`;

export const serveCommand = defineCommand({
  name: 'serve',
  usage: USAGE,
  flags: {
    runs: { type: 'string' },
    data: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    token: { type: 'string' },
    json: { type: 'boolean' },
  },
  positionals: { min: 0, max: 0, describe: 'no positional argument' },
  async run({ values, io }) {
    const port = values.port === undefined ? 0 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('E_BAD_OPTION', `--port must be a whole number from 0 to 65535, found \`${values.port}\``);
    if (values.token !== undefined && values.token.length < 16)
      throw new UsageError('E_BAD_OPTION', `--token must be at least 16 characters, found ${values.token.length}`, { hint: 'leave it out to get a random one' });
    const host = values.host ?? '127.0.0.1';
    const server = await startServer({ runs: values.runs ?? 'runs', ...(values.data ? { data: values.data } : {}), host, port, ...(values.token ? { token: values.token } : {}) });
    if (!isLoopback(host)) io.err(`warning: listening on ${host}: anyone on your network who has the token can see your runs and data and start training\n`);
    if (values.json) io.out(JSON.stringify({ event: 'listening', url: server.url, runs: server.runsDir }) + '\n');
    else io.out(`headstart serve: runs in ${server.runsDir}\nopen ${server.url}\n(Ctrl-C to stop)\n`);
    await new Promise<void>((done) => process.once('SIGINT', () => done()));
    io.err('stopping (runs started from the page keep their last checkpoint)...\n');
    await server.close();
    return 0;
  },
});
