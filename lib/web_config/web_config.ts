/**
 * The `--web.config.file`: Prometheus exporter-toolkit's YAML format, read strictly, so that
 * operators reuse the files they have and a typo is an error rather than a silent default.
 */

import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { dirname, isAbsolute, resolve } from "node:path";
// @ts-types="npm:@types/js-yaml@4"
import yaml from "js-yaml";

export interface TlsMaterial {
  /** PEM certificate chain, leaf first. */
  cert: string;
  /** PEM private key. */
  key: string;
  /** The certificate's validity end and SHA-256 fingerprint, for the log. */
  notAfter: string;
  fingerprint: string;
}

export interface WebConfig {
  /** Absent: serve plain HTTP. */
  tls?: TlsMaterial;
  /** User name to bcrypt hash; empty: no authentication. */
  users: Map<string, string>;
  /** Extra response headers from `http_server_config.headers`. */
  headers: Record<string, string>;
  /** The files this config was built from (the YAML, then any cert and key files). */
  files: string[];
  /** SHA-256 over the content of `files`: equal fingerprints mean nothing changed. */
  fingerprint: string;
  /** The file sets no key at all (empty, or only comments): a truncated file looks like this. */
  empty: boolean;
}

/** A web config that cannot be used; the message is one line naming the file and the key. */
export class WebConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WebConfigError";
  }
}

// Keys of exporter-toolkit's format that Deno's TLS server (rustls) cannot honour. Accepting
// them silently would weaken what the operator asked for, so each is refused with the reason.
const UNSUPPORTED: Readonly<Record<string, string>> = {
  "tls_server_config.client_ca_file": "client certificate authentication is not supported",
  "tls_server_config.client_ca": "client certificate authentication is not supported",
  "tls_server_config.client_allowed_sans": "client certificate authentication is not supported",
  "tls_server_config.cipher_suites": "Deno's TLS server does not let the cipher suites be chosen",
  "tls_server_config.curve_preferences": "Deno's TLS server does not let the curves be chosen",
  "rate_limit": "rate limiting is not supported",
};

const KEYS: Readonly<Record<string, readonly string[]>> = {
  "": ["tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"],
  "tls_server_config": [
    "cert_file",
    "key_file",
    "cert",
    "key",
    "min_version",
    "max_version",
    "client_auth_type",
    "client_ca_file",
    "client_ca",
    "client_allowed_sans",
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
  ],
  "http_server_config": ["headers", "http2"],
};

const TLS_VERSIONS = ["TLS10", "TLS11", "TLS12", "TLS13"];

// exporter-toolkit's list: only these headers, and for two of them only these values, so
// that every exporter in the ecosystem accepts the same files.
const HEADERS: Readonly<Record<string, readonly string[] | undefined>> = {
  "Strict-Transport-Security": undefined,
  "X-Content-Type-Options": ["nosniff"],
  "X-Frame-Options": ["deny", "sameorigin"],
  "X-XSS-Protection": undefined,
  "Content-Security-Policy": undefined,
};

const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

type Mapping = Record<string, unknown>;

function isMapping(value: unknown): value is Mapping {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses and checks the web config at `path`, reading the files it names. */
export async function loadWebConfig(path: string): Promise<WebConfig> {
  const file = resolve(path);
  const fail = (message: string, cause?: unknown): never => {
    throw new WebConfigError(`--web.config.file "${path}": ${message}`, { cause });
  };
  const read = async (what: string, target: string): Promise<Uint8Array> => {
    try {
      return await Deno.readFile(target);
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound
        ? "no such file"
        : err instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : (err as Error).message;
      return fail(`${what}: cannot read "${target}": ${why}`, err);
    }
  };

  const contents: Uint8Array[] = [await read("config", file)];
  let root: unknown;
  try {
    root = yaml.load(new TextDecoder().decode(contents[0]), { filename: file });
  } catch (err) {
    fail(`invalid YAML: ${(err as Error).message.split("\n")[0]}`, err);
  }
  root ??= {}; // an empty file is a valid config that enables nothing, as in exporter-toolkit
  if (!isMapping(root)) return fail("the top level must be a mapping of keys");
  const empty = Object.keys(root).length === 0;

  const section = (key: string): Mapping => {
    const value = (root as Mapping)[key] ?? {};
    if (!isMapping(value)) fail(`${key}: must be a mapping of keys`);
    checkKeys(value as Mapping, key, fail);
    return value as Mapping;
  };
  checkKeys(root, "", fail);
  const tlsSection = section("tls_server_config");
  const httpSection = section("http_server_config");

  const files = [file];
  const material = async (name: "cert" | "key"): Promise<Pem | undefined> => {
    const inline = tlsSection[name];
    const fileKey = `${name}_file`;
    const target = tlsSection[fileKey];
    if (inline !== undefined && target !== undefined) {
      fail(`tls_server_config: set ${name} or ${fileKey}, not both`);
    }
    if (inline !== undefined) {
      return { text: string(inline, `tls_server_config.${name}`, fail), source: `tls_server_config.${name}` };
    }
    if (target === undefined) return undefined;
    const relative = string(target, `tls_server_config.${fileKey}`, fail);
    if (relative === "") fail(`tls_server_config.${fileKey}: is empty`);
    // Relative to the config file's directory, as exporter-toolkit resolves them.
    const absolute = isAbsolute(relative) ? relative : resolve(dirname(file), relative);
    files.push(absolute);
    const bytes = await read(`tls_server_config.${fileKey}`, absolute);
    contents.push(bytes);
    return { text: new TextDecoder().decode(bytes), source: `tls_server_config.${fileKey} "${absolute}"` };
  };
  const cert = await material("cert");
  const key = await material("key");
  checkTlsOptions(tlsSection, fail);
  let tls: TlsMaterial | undefined;
  if (cert !== undefined || key !== undefined) {
    if (cert === undefined) fail("tls_server_config: missing one of cert or cert_file");
    if (key === undefined) fail("tls_server_config: missing one of key or key_file");
    tls = checkKeyPair(cert!, key!, fail);
  } else if (Object.keys(tlsSection).length > 0) {
    fail("tls_server_config: missing one of cert or cert_file");
  }

  return {
    tls,
    users: users((root as Mapping).basic_auth_users, fail),
    headers: headers(httpSection, fail),
    files,
    fingerprint: fingerprintOf(contents),
    empty,
  };
}

function fingerprintOf(contents: Uint8Array[]): string {
  const hash = createHash("sha256");
  for (const bytes of contents) hash.update(createHash("sha256").update(bytes).digest());
  return hash.digest("hex");
}

/**
 * The fingerprint `config.files` have now, or undefined when one cannot be read. Equal to
 * `config.fingerprint` means a reload would load the same config: the files a config names
 * can only change through the YAML, which is one of them.
 */
export async function currentFingerprint(config: WebConfig): Promise<string | undefined> {
  try {
    return fingerprintOf(await Promise.all(config.files.map((file) => Deno.readFile(file))));
  } catch {
    return undefined;
  }
}

type Fail = (message: string, cause?: unknown) => never;

/** PEM text and where it came from, for messages. */
interface Pem {
  text: string;
  source: string;
}

function string(value: unknown, key: string, fail: Fail): string {
  if (typeof value !== "string") fail(`${key}: must be a string`);
  return value as string;
}

function checkKeys(mapping: Mapping, section: string, fail: Fail): void {
  const allowed = KEYS[section] ?? [];
  for (const key of Object.keys(mapping)) {
    const path = section ? `${section}.${key}` : key;
    if (!allowed.includes(key)) {
      fail(`unknown key "${path}"; known keys${section ? ` in ${section}` : ""}: ${allowed.join(", ")}`);
    }
    if (Object.hasOwn(UNSUPPORTED, path)) fail(`${path}: ${UNSUPPORTED[path]} by dynamic_exporter`);
  }
}

function checkTlsOptions(tls: Mapping, fail: Fail): void {
  for (const key of ["min_version", "max_version"]) {
    if (tls[key] === undefined) continue;
    const version = string(tls[key], `tls_server_config.${key}`, fail);
    if (!TLS_VERSIONS.includes(version)) {
      fail(
        `tls_server_config.${key}: unknown TLS version "${version}"; expected one of ${
          TLS_VERSIONS.join(", ")
        }`,
      );
    }
  }
  // Deno's TLS (rustls) speaks TLS 1.2 and 1.3 and has no switch for either: a lower minimum
  // or a TLS13 maximum already holds, anything else cannot be enforced.
  if (tls.min_version === "TLS13") {
    fail("tls_server_config.min_version: TLS13 cannot be enforced; Deno's TLS server always accepts TLS 1.2");
  }
  if (tls.max_version !== undefined && tls.max_version !== "TLS13") {
    fail(
      `tls_server_config.max_version: ${tls.max_version} cannot be enforced; Deno's TLS server always offers TLS 1.3`,
    );
  }
  const auth = tls.client_auth_type;
  if (auth !== undefined && auth !== "" && auth !== "NoClientCert") {
    fail(
      `tls_server_config.client_auth_type: "${auth}": client certificate authentication is not supported by dynamic_exporter`,
    );
  }
  if (tls.prefer_server_cipher_suites !== undefined && typeof tls.prefer_server_cipher_suites !== "boolean") {
    fail("tls_server_config.prefer_server_cipher_suites: must be true or false");
  }
}

function checkKeyPair(cert: Pem, key: Pem, fail: Fail): TlsMaterial {
  if (!cert.text.includes("-----BEGIN CERTIFICATE-----")) fail(`${cert.source}: no PEM CERTIFICATE block`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.text)) fail(`${key.source}: no PEM PRIVATE KEY block`);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert.text);
  } catch (err) {
    return fail(`${cert.source}: not a valid X.509 certificate (${(err as Error).message})`, err);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key.text);
  } catch (err) {
    return fail(`${key.source}: not a valid private key (${(err as Error).message})`, err);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    fail(`${key.source}: the key does not match the certificate (subject "${x509.subject}")`);
  }
  return {
    cert: cert.text,
    key: key.text,
    notAfter: new Date(x509.validTo).toISOString(),
    fingerprint: x509.fingerprint256,
  };
}

function users(section: unknown, fail: Fail): Map<string, string> {
  const users = new Map<string, string>();
  if (section === undefined || section === null) return users;
  if (!isMapping(section)) fail("basic_auth_users: must be a mapping of user name to bcrypt hash");
  for (const [user, hash] of Object.entries(section as Mapping)) {
    if (user === "" || user.includes(":")) {
      fail(`basic_auth_users: "${user}" cannot be a basic auth user name (empty or contains ":")`);
    }
    if (typeof hash !== "string" || !BCRYPT.test(hash)) {
      fail(
        `basic_auth_users.${user}: not a bcrypt hash; expected $2a$, $2b$ or $2y$, a cost and 53 characters`,
      );
    }
    const cost = Number(BCRYPT.exec(hash as string)![1]);
    if (cost < 4 || cost > 31) fail(`basic_auth_users.${user}: bcrypt cost ${cost} is outside 4..31`);
    users.set(user, hash as string);
  }
  return users;
}

function headers(http: Mapping, fail: Fail): Record<string, string> {
  if (http.http2 !== undefined && http.http2 !== true) {
    fail("http_server_config.http2: only true is supported; Deno's server always offers HTTP/2 over TLS");
  }
  const section = http.headers ?? {};
  if (!isMapping(section)) return fail("http_server_config.headers: must be a mapping of header to value");
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(section)) {
    if (!Object.hasOwn(HEADERS, name)) {
      fail(
        `http_server_config.headers: "${name}" cannot be set; allowed: ${Object.keys(HEADERS).join(", ")}`,
      );
    }
    const text = string(value, `http_server_config.headers.${name}`, fail);
    const allowed = HEADERS[name];
    if (allowed && !allowed.includes(text)) {
      fail(`http_server_config.headers.${name}: "${text}" is not one of ${allowed.join(", ")}`);
    }
    result[name] = text;
  }
  return result;
}
