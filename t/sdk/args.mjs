// Command line of the SDK scripts: what to call and how, and the one JSON
// line each prints.
//
//   node SCRIPT --base-url URL --model MODEL [--stream] [--system TEXT]
//               [--message TEXT] [--api-key KEY] [--max-tokens N]
//
// The API key defaults to $AIR_SDK_API_KEY, then to "test-key".  The script
// prints {"ok":true,...} and exits 0, or {"ok":false,"error":...,"status":N}
// and exits 1.

import { parseArgs } from 'node:util';

export function sdkArgs() {
    const { values } = parseArgs({
        options: {
            'base-url':   { type: 'string' },
            'model':      { type: 'string' },
            'stream':     { type: 'boolean', default: false },
            'system':     { type: 'string' },
            'message':    { type: 'string', default: 'Hello' },
            'api-key':    { type: 'string' },
            'max-tokens': { type: 'string', default: '64' },
        },
    });

    if (!values['base-url'] || !values.model) {
        process.stderr.write('usage: node SCRIPT --base-url URL --model MODEL'
                             + ' [--stream] [--system TEXT] [--message TEXT]'
                             + ' [--api-key KEY] [--max-tokens N]\n');
        process.exit(2);
    }

    return {
        baseURL: values['base-url'],
        model: values.model,
        stream: values.stream,
        system: values.system,
        message: values.message,
        apiKey: values['api-key'] ?? process.env.AIR_SDK_API_KEY ?? 'test-key',
        maxTokens: Number(values['max-tokens']),
    };
}

// runs call(), prints its result or the error as one JSON line
export async function report(call) {
    try {
        const result = await call();
        process.stdout.write(JSON.stringify({ ok: true, ...result }) + '\n');
    } catch (err) {
        process.stdout.write(JSON.stringify({
            ok: false,
            error: String(err && err.message || err),
            status: err && err.status,
        }) + '\n');
        process.exitCode = 1;
    }
}
