import assert from "node:assert/strict";
import { isSecretKey, redactSecrets } from "./redact.ts";

const CASES: [string, string][] = [
  // URL credentials: the user stays, the password goes.
  ["connect postgres://app:s3cret@db/x failed", "connect postgres://app:***@db/x failed"],
  ["GET https://user:p%40ss@api.internal:443/v1 (503)", "GET https://user:***@api.internal:443/v1 (503)"],
  ["redis://:only-password@cache:6379/0", "redis://:***@cache:6379/0"],
  ["mongodb+srv://svc:x@a.example,b.example/db", "mongodb+srv://svc:***@a.example,b.example/db"],
  // Query parameters and key=value settings.
  ["GET /api?user=bob&password=hunter2&page=2", "GET /api?user=bob&password=***&page=2"],
  ["dsn: host=db user=app passwd=abc dbname=x", "dsn: host=db user=app passwd=*** dbname=x"],
  ["pwd=abc; token=t0k3n, secret=shh", "pwd=***; token=***, secret=***"],
  ["?api_key=AKIA123&apikey=xyz&key=k1", "?api_key=***&apikey=***&key=***"],
  ["client_secret=abc access_token=def X-Api-Key=ghi", "client_secret=*** access_token=*** X-Api-Key=***"],
  ["sslpassword=a dbPassword=b ssh_key=c", "sslpassword=*** dbPassword=*** ssh_key=***"],
  ['PASSWORD="quoted value" next', 'PASSWORD="***" next'],
  [
    "db_password=a GITHUB_TOKEN=ghp_b passphrase=c --password=d",
    "db_password=*** GITHUB_TOKEN=*** passphrase=*** --password=***",
  ],
  [
    "access_key=a private_key=b privateKey=c pass=d session=e session_id=f",
    "access_key=*** private_key=*** privateKey=*** pass=*** session=*** session_id=***",
  ],
  // The forms of issue 18, defect 4: JSON, quoted keys, YAML and headers.
  ['{"password": "x", "secret": "y"}', '{"password": "***", "secret": "***"}'],
  ["{'password':'x'}", "{'password':'***'}"],
  ["password: x", "password: ***"],
  ["auth=Basic dXNlcjpwYXNz", "auth=Basic ***"],
  ["x-api-key: k", "x-api-key: ***"],
  ['{"user":"bob","token":"t\\"k","n":1}', '{"user":"bob","token":"***","n":1}'],
  ['body: {\\"api_key\\":\\"k1\\",\\"page\\":2}', 'body: {\\"api_key\\":\\"***\\",\\"page\\":2}'],
  ['{"auth": {"user": "bob", "password": "x"}}', '{"auth": {"user": "bob", "password": "***"}}'],
  ["Cookie: sid=abc; theme=dark (403)", "Cookie: *** (403)"],
  ["Set-Cookie: session=abc; Path=/; HttpOnly", "Set-Cookie: ***"],
  ["credentials: abc client_secret = def", "credentials: *** client_secret = ***"],
  // Every Authorization scheme: the scheme stays, the credentials go.
  ["Authorization: Bearer eyJhbGciOi.x.y", "Authorization: Bearer ***"],
  ["authorization: Basic dXNlcjpwYXNz was refused", "authorization: Basic *** was refused"],
  ['{"Authorization":"Token abc"}', '{"Authorization":"Token ***"}'],
  ["Authorization: 'Basic abc'", "Authorization: 'Basic ***'"],
  ["Authorization: token ghp_abc", "Authorization: token ***"],
  [
    'Authorization: Digest username="bob", realm="api", nonce="n1", response="6629fae4" (401)',
    "Authorization: Digest *** (401)",
  ],
  [
    "Authorization: AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=fe5f",
    "Authorization: AWS4-HMAC-SHA256 ***",
  ],
  ["Proxy-Authorization: Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1", "Proxy-Authorization: Negotiate ***"],
  ["Authorization: sk_live_abc123 was refused", "Authorization: *** was refused"],
  ["authorization=xyz&page=2", "authorization=***&page=2"],
  ["basic_auth: s3cr3t", "basic_auth: ***"],
  ["sent bearer abc.def to the API", "sent bearer *** to the API"],
  // Several in one message.
  [
    "GET http://a:b@h/?token=t failed; retry with secret='x y'",
    "GET http://a:***@h/?token=*** failed; retry with secret='***'",
  ],
  // Nothing to mask: left exactly as it was.
  ["monkey=banana keyboard=us passwordless login", "monkey=banana keyboard=us passwordless login"],
  [
    "author=Jane authority: ca authenticated=true oauth_callback=/cb",
    "author=Jane authority: ca authenticated=true oauth_callback=/cb",
  ],
  [
    "tokens_total 5\nmax_tokens=100 token_count: 3 sessions=4",
    "tokens_total 5\nmax_tokens=100 token_count: 3 sessions=4",
  ],
  [
    "password_file=/etc/app/pw secret_name: db sessionTimeout=30",
    "password_file=/etc/app/pw secret_name: db sessionTimeout=30",
  ],
  ["https://example.com/path?page=2", "https://example.com/path?page=2"],
  ["mailto:ops@example.com and user@host:22", "mailto:ops@example.com and user@host:22"],
  [
    'unknown key "basic_auth_user"; tls_server_config.key_file: no such file',
    'unknown key "basic_auth_user"; tls_server_config.key_file: no such file',
  ],
  ["the password is wrong; token expired", "the password is wrong; token expired"],
  ["", ""],
];

Deno.test("redactSecrets masks credentials and leaves everything else as it was", () => {
  assert.deepEqual(
    CASES.map(([input]) => [input, redactSecrets(input)]),
    CASES,
  );
});

Deno.test("isSecretKey takes a key by its ending or its last word, in any case", () => {
  const secret = [
    "password",
    "PASSWORD",
    "db_password",
    "dbPassword",
    "GITHUB_TOKEN",
    "access_token",
    "client_secret",
    "api_key",
    "apikey",
    "api-key",
    "X-Api-Key",
    "access_key",
    "privateKey",
    "auth",
    "basic_auth",
    "Authorization",
    "Proxy-Authorization",
    "cookie",
    "Set-Cookie",
    "session",
    "session_id",
    "sessionId",
    "pwd",
    "pass",
    "passwd",
    "passphrase",
    "credentials",
  ];
  const plain = [
    "author",
    "authority",
    "oauth_callback",
    "keyboard",
    "monkey",
    "password_file",
    "max_tokens",
    "tokens_total",
    "sessions",
    "sessionTimeout",
    "module",
    "err",
    "set",
    "kept",
    "compass",
    "OLDPWD",
  ];
  assert.deepEqual(secret.filter((key) => !isSecretKey(key)), []);
  assert.deepEqual(plain.filter((key) => isSecretKey(key)), []);
});

Deno.test("redactSecrets reads a long message in linear time", () => {
  // `a-a-a-...` made the URL pattern start at every word boundary and scan to the end: 4 s for
  // 40 KB, hours for a megabyte. Each of these takes milliseconds; the bound is far above that.
  for (const unit of ["a-", "a:", "a://", 'password="', "Authorization: Basic ", '"token": "x", ']) {
    const text = unit.repeat(Math.ceil(200_000 / unit.length));
    const start = performance.now();
    redactSecrets(text);
    const ms = performance.now() - start;
    assert.ok(ms < 1000, `${JSON.stringify(unit)} x ${text.length / unit.length}: ${ms.toFixed(0)} ms`);
  }
});
