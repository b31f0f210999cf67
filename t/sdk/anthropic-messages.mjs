// The Anthropic Node SDK, unmodified: messages.create, plain or streamed
// (text deltas collected), against the base URL given (see args.mjs).

import Anthropic from '@anthropic-ai/sdk';
import { sdkArgs, report } from './args.mjs';

const a = sdkArgs();
const client = new Anthropic({ baseURL: a.baseURL, apiKey: a.apiKey });

const params = {
    model: a.model,
    max_tokens: a.maxTokens,
    messages: [{ role: 'user', content: a.message }],
    stream: a.stream,
};
if (a.system !== undefined) {
    params.system = a.system;
}

await report(async () => {
    const { data, response } = await client.messages.create(params)
                                     .withResponse();

    const out = {
        sdk: 'anthropic',
        x_ai_release: response.headers.get('x-ai-release'),
    };

    if (!a.stream) {
        return { ...out, text: data.content[0].text, model: data.model,
                 id: data.id, stop_reason: data.stop_reason };
    }

    let text = '';
    let events = 0;
    let model;
    let stopReason;
    for await (const event of data) {
        events++;
        if (event.type === 'message_start') {
            model = event.message.model;
        } else if (event.type === 'content_block_delta'
                   && event.delta.type === 'text_delta') {
            text += event.delta.text;
        } else if (event.type === 'message_delta') {
            stopReason = event.delta.stop_reason;
        }
    }
    return { ...out, text, events, model, stop_reason: stopReason };
});
