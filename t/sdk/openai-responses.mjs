// The OpenAI Node SDK, unmodified: responses.create, plain or streamed
// (output_text deltas collected), against the base URL given (see
// args.mjs).  --system becomes "instructions".

import OpenAI from 'openai';
import { sdkArgs, report } from './args.mjs';

const a = sdkArgs();
const client = new OpenAI({ baseURL: a.baseURL, apiKey: a.apiKey });

const params = {
    model: a.model,
    input: a.message,
    max_output_tokens: a.maxTokens,
    stream: a.stream,
};
if (a.system !== undefined) {
    params.instructions = a.system;
}

await report(async () => {
    const { data, response } = await client.responses.create(params)
                                     .withResponse();

    const out = {
        sdk: 'openai-responses',
        x_ai_release: response.headers.get('x-ai-release'),
    };

    if (!a.stream) {
        return { ...out, text: data.output_text, model: data.model,
                 id: data.id };
    }

    let text = '';
    let events = 0;
    let model;
    for await (const event of data) {
        events++;
        if (event.type === 'response.output_text.delta') {
            text += event.delta;
        } else if (event.type === 'response.completed') {
            model = event.response.model;
        }
    }
    return { ...out, text, events, model };
});
