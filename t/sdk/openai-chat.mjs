// The OpenAI Node SDK, unmodified: chat.completions.create, plain or
// streamed (deltas collected), against the base URL given (see args.mjs).

import OpenAI from 'openai';
import { sdkArgs, report } from './args.mjs';

const a = sdkArgs();
const client = new OpenAI({ baseURL: a.baseURL, apiKey: a.apiKey });

const messages = [];
if (a.system !== undefined) {
    messages.push({ role: 'system', content: a.system });
}
messages.push({ role: 'user', content: a.message });

await report(async () => {
    const { data, response } = await client.chat.completions.create({
        model: a.model,
        messages,
        max_tokens: a.maxTokens,
        stream: a.stream,
    }).withResponse();

    const out = {
        sdk: 'openai',
        x_ai_release: response.headers.get('x-ai-release'),
    };

    if (!a.stream) {
        return { ...out, text: data.choices[0].message.content,
                 model: data.model, id: data.id };
    }

    let text = '';
    let chunks = 0;
    let id;
    for await (const chunk of data) {
        chunks++;
        id = chunk.id;
        text += chunk.choices[0]?.delta?.content ?? '';
    }
    return { ...out, text, chunks, id };
});
