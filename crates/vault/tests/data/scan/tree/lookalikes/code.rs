let key = map.get(&id).cloned();
let monkey = "banana_split_sundae_deluxe";
let keyboard_layout = "us-intl-altgr-dead-keys";
let password = prompt_password("Password: ")?;
let primary_key = "id";
let tokenizer = Tokenizer::new(TokenizerConfig::default());
self.secret = secret.clone();
let password_hash = bcrypt::hash(password, DEFAULT_COST)?;
const MAX_TOKENS: usize = 4096;
let token = std::env::var("API_TOKEN")?;
headers.insert("Authorization", format!("Bearer {token}"));
secret_key: settings.SECRET_KEY_VALUE,
