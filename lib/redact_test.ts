import assert from "node:assert/strict";
import { redactSecrets } from "./redact.ts";

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
  ['PASSWORD="quoted value" next', "PASSWORD=*** next"],
  // Authorization headers and bare bearer tokens.
  ["Authorization: Bearer eyJhbGciOi.x.y", "Authorization: Bearer ***"],
  ["authorization: Basic dXNlcjpwYXNz", "authorization: Basic ***"],
  ['{"Authorization":"Token abc"}', '{"Authorization":"Token ***"}'],
  ["Authorization: 'Basic abc'", "Authorization: 'Basic ***'"],
  ["sent bearer abc.def to the API", "sent bearer *** to the API"],
  // Several in one message.
  [
    "GET http://a:b@h/?token=t failed; retry with secret='x y'",
    "GET http://a:***@h/?token=*** failed; retry with secret=***",
  ],
  // Nothing to mask: left exactly as it was.
  ["monkey=banana keyboard=us passwordless login", "monkey=banana keyboard=us passwordless login"],
  ["https://example.com/path?page=2", "https://example.com/path?page=2"],
  ["mailto:ops@example.com and user@host:22", "mailto:ops@example.com and user@host:22"],
  [
    'unknown key "basic_auth_user"; tls_server_config.key_file: no such file',
    'unknown key "basic_auth_user"; tls_server_config.key_file: no such file',
  ],
  ["", ""],
];

Deno.test("redactSecrets masks credentials and leaves everything else as it was", () => {
  assert.deepEqual(
    CASES.map(([input]) => [input, redactSecrets(input)]),
    CASES,
  );
});
