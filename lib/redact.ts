/**
 * Masks credentials in text an operator shows to others: a module's error on the status page
 * and every log line. Module errors quote what failed, and what failed is often a connection
 * string with its password (issue 8, item 14).
 */

const MASK = "***";

// A secret value: quoted up to its closing quote, or else up to whitespace, a quote or a
// separator of query strings and lists. The text is plain, not yet escaped for a log line.
const VALUE = String.raw`(?:"[^"\n]*"|'[^'\n]*'|[^\s"'&;,]+)`;

/** `scheme://user:password@host`: keeps the user, masks the password. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s\/:@]*):([^\s\/@]+)@/gi;

/**
 * `password=...`, `sslpassword=...`, `access_token=...`, `api_key=...`: query parameters and
 * key=value settings. A name ending in one of the words counts (`client_secret`, `x-api-key`);
 * for `key`, only as a word of its own (`ssh_key` counts, `monkey` does not).
 */
const KEY_VALUE = new RegExp(
  String
    .raw`(?<![A-Za-z0-9])((?:[\w.-]*(?:password|passwd|pwd|token|secret|api_?key|apikey)|(?:[A-Za-z0-9]+[_.-])*key)\s*=\s*)${VALUE}`,
  "gi",
);

/** `Authorization: Bearer xxx`, `Authorization: Basic xxx`, `authorization=xxx`. */
const AUTHORIZATION = new RegExp(
  String.raw`(\bauthorization["']?\s*[:=]\s*["']?(?:[A-Za-z]+\s+)?)${VALUE}`,
  "gi",
);

/** A bearer token quoted without its header name. */
const BEARER = new RegExp(String.raw`(\bbearer\s+)${VALUE}`, "gi");

/** `text` with the credentials it quotes replaced by `***`; everything else as it was. */
export function redactSecrets(text: string): string {
  return text
    .replace(URL_USERINFO, (_, scheme, user) => `${scheme}${user}:${MASK}@`)
    .replace(AUTHORIZATION, (_, prefix) => `${prefix}${MASK}`)
    .replace(BEARER, (_, prefix) => `${prefix}${MASK}`)
    .replace(KEY_VALUE, (_, prefix) => `${prefix}${MASK}`);
}
