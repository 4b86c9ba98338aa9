import { createClient } from '@supabase/supabase-js';
const apiKey = process.env.API_KEY;
const token = getToken();
export const admin = createClient(url, "sb_secret_OqPgtJrfmq-1LoT5SoHNUFVpiBVVHGa");
export const LEGACY_OPENAI = "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";
const headers = { Authorization: `Bearer ${token}` };
for (const [key, value] of Object.entries(headers)) console.log(key, value);
