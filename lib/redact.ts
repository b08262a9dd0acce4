/**
 * Masks credentials in text an operator shows to others: a module's error on the status page
 * and every log line. Module errors quote what failed, and what failed is often a connection
 * string with its password (issue 8, item 14), a request's headers or a JSON body (issue 18,
 * defect 4).
 *
 * What counts as a credential is decided by its key, in every form errors quote one:
 * `key=value`, `key: value`, `"key": "value"`, `'key':'value'` (and JSON escaped once more,
 * `\"key\":\"value\"`). A key is credential-like when it ends in password, passwd, passphrase,
 * secret, token, apikey, authorization, cookie or credential(s) (`db_password`, `GITHUB_TOKEN`,
 * `client_secret`, `Proxy-Authorization`, `Set-Cookie`), or when its last word is key, auth,
 * pass, pwd, session or sessionid (`api_key`, `x-api-key`, `privateKey`, `basic_auth`,
 * `session_id`); words are split at `_`, `-`, `.` and camelCase. So `author`, `keyboard`,
 * `password_file`, `max_tokens` and `sessions` are left alone, and so is text with no separator
 * after the key (`tokens_total 5`, `passwordless login`).
 */

const MASK = "***";

/**
 * `scheme://user:password@host`: keeps the user, masks the password. The scheme starts where a
 * run of scheme characters does: from every word boundary, `a-a-a-...` took quadratic time.
 */
const URL_USERINFO = /(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*:\/\/)([^\s\/:@]*):([^\s\/@]+)@/gi;

/**
 * A key and its separator. The key may be quoted (the closing quote is the opening one) and
 * starts after anything but a key character, so `--password=` counts and `x_password` is read
 * whole.
 */
const KEY = /(?<![\w.-])(\\?["']|)([\w-][\w.-]*)\1([ \t]*[:=][ \t]*)/g;

/** A quoted value, its quotes kept: JSON escaped once more, double quotes with escapes, single quotes. */
const QUOTED = /(\\")((?:[^"\\\n]|\\[^"\n])*)\\"|(")((?:[^"\\\n]|\\.)*)"|(')([^'\n]*)'/y;

/** An unquoted value: up to whitespace, a quote or a separator of query strings and lists. */
const BARE = /[^\s"'&;,]+/y;

/** A Cookie or Set-Cookie value: its `name=value` pairs and attributes, joined by `;`. */
const COOKIES = /[^\s"'&;,]+(?:;[ \t]*[^\s"'&;,]+)*/y;

/**
 * An authorization scheme: a word of letters and hyphens (Basic, Bearer, Digest, token, Negotiate,
 * anything), or one of the schemes with digits. A single word with digits after the key is taken
 * for the credentials themselves.
 */
const SCHEME = String.raw`(?:AWS4-HMAC-SHA256|SCRAM-SHA-(?:1|256)|[A-Za-z][A-Za-z-]{0,19})`;

/** One auth-param (`name=value`, as Digest's) or a token68 (Basic's, Bearer's). */
const PARAM = String.raw`(?:[\w-]+=(?:"(?:[^"\\\n]|\\.)*"|[^\s,"']*)|[^\s,"']+)`;

/** Credentials after a scheme: a token68, or a list of auth-params (Digest, AWS's signature). */
const CREDENTIALS = String.raw`${PARAM}(?:[ \t]*,[ \t]*[\w-]+=(?:"(?:[^"\\\n]|\\.)*"|[^\s,"']*))*`;

const SCHEME_THEN_CREDENTIALS = new RegExp(String.raw`(${SCHEME}[ \t]+)${CREDENTIALS}`, "y");
const SCHEME_THEN_ANYTHING = new RegExp(String.raw`^(${SCHEME}[ \t]+)\S`);

/** A bearer token quoted without its header name. */
const BEARER = /(?<![\w-])(bearer[ \t]+)(?:"[^"\n]*"|'[^'\n]*'|[^\s"'&;,]+)/gi;

/** Keys whose value is a credential, whatever comes before the word. */
const ENDINGS = /(?:password|passwd|passphrase|secret|token|apikey|authorization|cookie|credentials?)$/i;

/** Keys whose value is a credential when the word is the key's last one. */
const LAST_WORDS = new Set(["key", "auth", "pass", "pwd", "session", "sessionid"]);

function words(key: string): string[] {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase().split(/[^a-z0-9]+/).filter((w) => w !== "");
}

/** Whether the value of `key` (a log field's name, a JSON key, a query parameter) is a credential. */
export function isSecretKey(key: string): boolean {
  if (ENDINGS.test(key)) return true;
  const all = words(key);
  const last = all.at(-1) ?? "";
  return LAST_WORDS.has(last) || (last === "id" && all.at(-2) === "session");
}

type KeyKind = "plain" | "auth" | "cookie";

function kindOf(key: string): KeyKind | undefined {
  if (!isSecretKey(key)) return undefined;
  if (/authorization$/i.test(key) || words(key).at(-1) === "auth") return "auth";
  if (/cookie$/i.test(key)) return "cookie";
  return "plain";
}

/** Matches `pattern` (sticky) at `at` in `text`. */
function matchAt(pattern: RegExp, text: string, at: number): RegExpExecArray | null {
  pattern.lastIndex = at;
  return pattern.exec(text);
}

/**
 * The masked value that starts at `at`, and where it ends; undefined when there is no value
 * there, or it opens an object or a list (whose own keys are read in turn).
 */
function maskValue(text: string, at: number, kind: KeyKind): { masked: string; end: number } | undefined {
  const quoted = matchAt(QUOTED, text, at);
  if (quoted) {
    const quote = quoted[1] ?? quoted[3] ?? quoted[5];
    const inner = quoted[2] ?? quoted[4] ?? quoted[6];
    const scheme = kind === "auth" ? SCHEME_THEN_ANYTHING.exec(inner)?.[1] ?? "" : "";
    return { masked: `${quote}${scheme}${MASK}${quote}`, end: at + quoted[0].length };
  }
  if (kind === "auth") {
    const withScheme = matchAt(SCHEME_THEN_CREDENTIALS, text, at);
    if (withScheme) return { masked: `${withScheme[1]}${MASK}`, end: at + withScheme[0].length };
  }
  const bare = matchAt(kind === "cookie" ? COOKIES : BARE, text, at);
  if (!bare || bare[0].startsWith("{") || bare[0].startsWith("[")) return undefined;
  return { masked: MASK, end: at + bare[0].length };
}

/** `text` with the value of every credential-like key masked. */
function maskKeyValues(text: string): string {
  let out = "";
  let copied = 0;
  KEY.lastIndex = 0;
  for (let match = KEY.exec(text); match; match = KEY.exec(text)) {
    const kind = kindOf(match[2]);
    // The value of any other key is read on: it may hold a key of its own (`dsn: password=x`).
    const value = kind && maskValue(text, KEY.lastIndex, kind);
    if (!value) continue;
    out += text.slice(copied, KEY.lastIndex) + value.masked;
    copied = KEY.lastIndex = value.end;
  }
  return out + text.slice(copied);
}

/** `text` with the credentials it quotes replaced by `***`; everything else as it was. */
export function redactSecrets(text: string): string {
  return maskKeyValues(text.replace(URL_USERINFO, (_, scheme, user) => `${scheme}${user}:${MASK}@`))
    .replace(BEARER, (_, prefix) => `${prefix}${MASK}`);
}

/**
 * A field's `value` as it may be shown: masked whole when `key` is credential-like (an
 * authorization's scheme kept), else with the credentials it quotes masked.
 */
export function redactField(key: string, value: string): string {
  const kind = kindOf(key);
  if (!kind) return redactSecrets(value);
  return `${kind === "auth" ? SCHEME_THEN_ANYTHING.exec(value)?.[1] ?? "" : ""}${MASK}`;
}
