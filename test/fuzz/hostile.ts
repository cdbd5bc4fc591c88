import fc from 'fast-check';
import type { Sent } from './target.js';

/** Values that have broken parsers and validators before. */
const NASTY = [
  '', ' ', '%', '%%', '%zz', '%E0%A4%A', '%C0%AF', '%FF%FE', '%00', '%u0041', '+', '&', '=', '#', '?', ';', ',',
  '\u0000', '\t', '\r\n', '\\', '"', '\'', '`', '../../../etc/passwd', '..%2F..%2F', '/', '//', '.', '..',
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf',
  'null', 'undefined', 'NaN', 'Infinity', '-1', '0', '-0', '1e309', '0x10', '9007199254740993', '9'.repeat(400),
  'true', 'false', '[]', '{}', '[null]', '{"$gt":""}', '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"x":1}}}',
  '{"a":', '[[[[[[[[[[[[[[[[[[[[', '<script>alert(1)</script>', '${7*7}', '{{7*7}}', '%s%s%s%n', '\' OR 1=1 --',
  '\uD800', '\uDFFF', '\uFEFF', '\u202E', '\u2028', 'e\u0301', '👩‍👩‍👧', '𝄞', 'İ', 'ß', 'ǅ', '\u0085', '\uFFFF',
  'a'.repeat(257), 'a'.repeat(2049), 'eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.', 'eyJ.eyJ.x', 'a.b.c.d.e',
  'urn:ietf:params:oauth:request_uri:', 'https://evil.example/', 'javascript:alert(1)', 'http://localhost:8080/callback#x',
];

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

/** Long values, beyond every length limit and past the body size limits. */
const huge = fc.tuple(fc.constantFrom('a', '%', '{', 'é', '𝄞', '\u0000', '0'), fc.integer({ min: 3_000, max: 120_000 }))
  .map(([unit, count]) => unit.repeat(count));

/** A string a client should never be able to hurt us with. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 9, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 6, arbitrary: fc.string({ unit: codeUnit, maxLength: 20 }) },
  { weight: 6, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value) ?? 'null') },
  { weight: 3, arbitrary: fc.base64String({ maxLength: 64 }) },
  { weight: 1, arbitrary: huge },
);

/** A value for a known parameter: mostly plausible ones (so deeper code runs), else hostile. */
export function valueFrom(plausible: readonly string[]): fc.Arbitrary<string> {
  return plausible.length
    ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...plausible) }, { weight: 2, arbitrary: hostileText })
    : hostileText;
}

/** Any JSON value, including the awkward ones: big numbers, deep nesting, prototype keys. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: hostileText },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, 0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, [], {}, [[[]]], { __proto__: null }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'length', 'then'), fc.jsonValue({ maxDepth: 1 })) },
  { weight: 1, arbitrary: fc.array(hostileText, { maxLength: 5 }) },
);

/** UTF-8 bytes of a string (lone surrogates become U+FFFD, as any client would send them). */
const utf8 = (text: string) => Buffer.from(text, 'utf8');

/** Percent-encodes every byte but the unreserved ones (RFC 3986). */
export function percentEncode(text: string): string {
  let out = '';
  for (const byte of utf8(text)) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Broken escapes a sloppy client (or an attacker) puts into an otherwise encoded value. */
const BROKEN_ESCAPES = ['%', '%g1', '%E0%A4', '%C0%AF', '%FF', '%00', '%%', '%2', '%D8%00', '%ED%A0%80'];

/** How one parameter value travels: encoded properly, with a broken escape, or as raw Latin-1 bytes. */
const encodedValue = (value: string) => fc.oneof(
  { weight: 6, arbitrary: fc.constant(percentEncode(value)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...BROKEN_ESCAPES), fc.nat()).map(([broken, at]) => {
    const encoded = percentEncode(value);
    const cut = encoded.length ? at % encoded.length : 0;
    return encoded.slice(0, cut) + broken + encoded.slice(cut);
  }) },
  // bytes 0x80-0xFF as they are (not valid UTF-8 on their own); the request line allows them
  { weight: 1, arbitrary: fc.constant(utf8(value).toString('latin1').replace(/[^\x21-\xff]/g, (c) => percentEncode(c)).replace(/[&=#%+]/g, (c) => percentEncode(c))) },
);

export type Params = Array<[string, string]>;

/** A request that works (or gets far): the fuzzer mostly breaks one or two things in it. */
export interface Template {
  params: Record<string, string>;
  /** Authorization header */
  authorization?: string;
  /** other headers it needs, e.g. a session cookie */
  headers?: Record<string, string>;
}

/** client_secret_basic credentials (RFC 6749 2.3.1: form-encoded, then base64). */
export const basic = ({ id, secret }: { id: string; secret: string }) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

type Known = Record<string, fc.Arbitrary<string>>;

const unknownPair = fc.tuple(fc.oneof(hostileText, fc.constantFrom('__proto__', 'constructor', 'x')), hostileText);

function knownPair(known: Known): fc.Arbitrary<[string, string]> {
  const names = Object.keys(known);
  return names.length
    ? fc.constantFrom(...names).chain((name) => known[name]!.map((value): [string, string] => [name, value]))
    : unknownPair;
}

/** A subset of the known parameters with plausible or hostile values, sometimes one twice, sometimes unknown ones. */
function randomParams(known: Known): fc.Arbitrary<Params> {
  const names = Object.keys(known);
  return fc.tuple(
    fc.subarray(names).chain((chosen) => fc.tuple(...chosen.map((name) => known[name]!.map((value): [string, string] => [name, value])))),
    fc.array(knownPair(known), { maxLength: 2 }),
    fc.array(unknownPair, { maxLength: 2 }),
  ).map(([chosen, duplicates, extra]) => [...chosen, ...duplicates, ...extra]);
}

/** A template with up to two values replaced, maybe one parameter dropped, maybe one added (a duplicate or an unknown one). */
function mutatedParams(template: Record<string, string>, known: Known): fc.Arbitrary<Params> {
  const entries = Object.entries(template);
  const replacement = (name: string) => known[name] ?? hostileText;
  return fc.record({
    replace: fc.array(fc.nat({ max: Math.max(0, entries.length - 1) }), { maxLength: 2 })
      .chain((indexes) => fc.tuple(...indexes.map((i) => replacement(entries[i]?.[0] ?? 'x').map((value) => [i, value] as const)))),
    drop: fc.option(fc.nat({ max: Math.max(0, entries.length - 1) }), { freq: 4 }),
    add: fc.array(fc.oneof(knownPair(known), unknownPair), { maxLength: 1 }),
  }).map(({ replace, drop, add }) => {
    const pairs: Params = entries.map(([name, value]) => [name, value]);
    for (const [i, value] of replace) if (pairs[i]) pairs[i] = [pairs[i]![0], value];
    if (drop !== null) pairs.splice(drop, 1);
    return [...pairs, ...add];
  });
}

/** `a=1&b=2` with each name and value encoded one way or another. */
export function urlEncoded(pairs: Params): fc.Arbitrary<string> {
  if (!pairs.length) return fc.constant('');
  return fc.tuple(...pairs.map(([name, value]) => fc.tuple(encodedValue(name), encodedValue(value))))
    .map((encoded) => encoded.map(([name, value]) => `${name}=${value}`).join('&'));
}

/** Headers a client may send along, some of them lying. */
const HEADER_NOISE: Record<string, fc.Arbitrary<string>> = {
  accept: fc.constantFrom('text/html', 'application/json', '*/*', 'text/html;q=0, application/json', 'garbage/'),
  origin: fc.constantFrom('https://evil.example', 'null', 'http://localhost:8080', 'https://bank.example'),
  cookie: fc.constantFrom('_session=garbage', '_session=a; _session.sig=b', '_interaction=x; _interaction.sig=y', 'a=%zz', '=; ;;'),
  'x-forwarded-for': fc.constantFrom('1.2.3.4', 'not-an-ip', '::1, 10.0.0.1', ' '.repeat(10)),
  'x-forwarded-host': fc.constantFrom('evil.example', 'a:b:c', '%00'),
  'x-forwarded-proto': fc.constantFrom('https', 'gopher', ''),
  'sec-fetch-mode': fc.constantFrom('navigate', 'cors', 'no-cors', 'garbage'),
  dpop: fc.constantFrom('eyJ.eyJ.x', 'garbage', 'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6Im5vbmUifQ.e30.'),
  // a body labelled compressed that is not (koa-body inflated it: 500 and a stack trace in the log)
  'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'x-gzip', 'gzip, identity', 'identity', 'compress', '', 'GZIP'),
  'content-language': fc.constantFrom('en', '%00', 'a'.repeat(300)),
};

/** Mostly none (they would stop most requests early), else a few. */
export const noiseHeaders: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: fc.subarray(Object.keys(HEADER_NOISE), { minLength: 1, maxLength: 3 })
    .chain((names) => fc.tuple(...names.map((name) => HEADER_NOISE[name]!.map((value) => [name, value] as const))))
    .map((entries) => Object.fromEntries(entries)) },
);

/** What a header value can carry (Latin-1 without controls): other text is sent as its UTF-8 bytes. */
export const headerValue = (text: string) => utf8(text).toString('latin1').replace(/[^\t\x20-\x7e\x80-\xff]/g, '?');

/** Credentials as an OAuth client might present them, broken in the ways clients break them. */
export function basicAuth(clients: Array<{ id: string; secret: string }>): fc.Arbitrary<string> {
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  return fc.oneof(
    fc.constantFrom(...clients).map(({ id, secret }) => `Basic ${b64(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`),
    fc.tuple(fc.constantFrom(...clients), hostileText).map(([{ id }, secret]) => `Basic ${b64(`${encodeURIComponent(id)}:${secret}`)}`),
    fc.tuple(hostileText, hostileText).map(([id, secret]) => `Basic ${b64(`${id}:${secret}`)}`),
    fc.uint8Array({ maxLength: 48 }).map((bytes) => `Basic ${Buffer.from(bytes).toString('base64')}`),
    fc.constantFrom('Basic', 'Basic ', 'Basic =', 'Basic !!!', `Basic ${b64('no-colon')}`, `Basic ${b64('%zz:%zz')}`, `Basic ${b64(':')}`, 'basic Zm9vOmJhcg=='),
    hostileText.map((text) => `Basic ${headerValue(text)}`),
  );
}

/** Bearer tokens: the given ones (of the right or the wrong kind) and broken ones. */
export function bearerAuth(tokens: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: tokens.length ? fc.constantFrom(...tokens).map((token) => `Bearer ${token}`) : fc.constant('Bearer x') },
    { weight: 1, arbitrary: fc.constantFrom('Bearer', 'Bearer ', 'bearer abc', 'Bearer a b', 'Bearer ===', 'DPoP abc', 'Basic abc', `Bearer ${'A'.repeat(9000)}`) },
    { weight: 2, arbitrary: hostileText.map((text) => `Bearer ${headerValue(text)}`) },
    { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{43}$/).map((token) => `Bearer ${token}`) },
  );
}

/** Content types a body is (mis)labelled with. */
const FORM_TYPES = ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'application/x-www-form-urlencoded; charset=iso-8859-1'];
const OTHER_TYPES = ['application/json', 'text/plain', 'multipart/form-data; boundary=x', 'multipart/form-data', 'application/xml', 'application/x-www-form-urlencoded; charset=utf-16', 'garbage'];

export interface ParamRequest {
  /** the first is the endpoint's own method, which most requests use */
  methods: readonly string[];
  paths: fc.Arbitrary<string>;
  known: Known;
  /** requests that work, to mutate */
  templates?: Template[];
  /** Authorization header values to try (besides none) */
  authorization?: fc.Arbitrary<string>;
}

/**
 * A request to an OAuth-style endpoint: parameters in the query or a body that is a form
 * (the usual), JSON, or anything else, under any content type.
 */
export function paramRequest({ methods, paths, known, templates = [], authorization }: ParamRequest): fc.Arbitrary<Sent> {
  const body = (pairs: Params): fc.Arbitrary<{ type?: string; bytes?: Buffer; query?: string }> => fc.oneof(
    { weight: 12, arbitrary: fc.tuple(urlEncoded(pairs), fc.constantFrom(...FORM_TYPES)).map(([form, type]) => ({ type, bytes: Buffer.from(form, 'latin1') })) },
    { weight: 2, arbitrary: urlEncoded(pairs).map((query) => ({ query })) },
    { weight: 1, arbitrary: fc.constantFrom(...OTHER_TYPES, undefined).map((type) => ({ type, bytes: utf8(JSON.stringify(Object.fromEntries(pairs))) })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...FORM_TYPES, ...OTHER_TYPES), fc.uint8Array({ maxLength: 256 })).map(([type, bytes]) => ({ type, bytes: Buffer.from(bytes) })) },
  );
  const otherAuth = authorization ? fc.option(authorization, { freq: 3 }) : fc.constant(null);
  const fromTemplate = fc.constantFrom(...(templates.length ? templates : [{ params: {} }])).chain((template: Template) => fc.record({
    pairs: mutatedParams(template.params, known),
    // mostly the template's own credentials and headers, sometimes other or none
    auth: fc.oneof({ weight: 4, arbitrary: fc.constant(template.authorization ?? null) }, { weight: 1, arbitrary: otherAuth }),
    headers: fc.oneof({ weight: 4, arbitrary: fc.constant(template.headers ?? {}) }, { weight: 1, arbitrary: fc.constant({}) }),
  }));
  const random = fc.record({ pairs: randomParams(known), auth: otherAuth, headers: fc.constant({}) });
  return fc.record({
    method: fc.oneof({ weight: 6, arbitrary: fc.constant(methods[0]!) }, { weight: 1, arbitrary: fc.constantFrom(...methods) }),
    path: paths,
    request: templates.length ? fc.oneof({ weight: 3, arbitrary: fromTemplate }, { weight: 1, arbitrary: random }) : random,
    noise: noiseHeaders,
  }).chain(({ method, path, request: { pairs, auth, headers: needed }, noise }) => body(pairs).map(({ type, bytes, query }): Sent => {
    const headers: Record<string, string> = { ...needed, ...noise };
    if (auth) headers.authorization = auth;
    const inQuery = query !== undefined || method === 'GET' || method === 'HEAD';
    const search = query ?? (inQuery && bytes ? bytes.toString('latin1') : '');
    if (!inQuery && type) headers['content-type'] = type;
    return {
      method,
      path: search ? `${path}${path.includes('?') ? '&' : '?'}${search.replace(/[^\x21-\xff]/g, (c) => percentEncode(c)).replace(/#/g, '%23')}` : path,
      headers,
      body: inQuery ? undefined : bytes,
    };
  }));
}

/** JSON bodies for a REST endpoint: mostly the valid one broken in one place, else as it is, or not JSON at all. */
export function jsonBody(valid: Record<string, unknown>): fc.Arbitrary<{ type?: string; bytes: Buffer }> {
  const fields = Object.keys(valid);
  const json = (value: unknown) => ({ type: 'application/json', bytes: utf8(JSON.stringify(value) ?? '') });
  const without = (name: string) => Object.fromEntries(Object.entries(valid).filter(([key]) => key !== name));
  const field = fields.length ? fc.constantFrom(...fields) : fc.constant('x');
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(json(valid)) },
    // a field of the wrong type or value, one missing, one unknown
    { weight: 4, arbitrary: fc.tuple(field, hostileJson).map(([name, value]) => json({ ...valid, [name]: value })) },
    { weight: 2, arbitrary: field.map((name) => json(without(name))) },
    { weight: 2, arbitrary: fc.tuple(fc.oneof(hostileText, fc.constantFrom('__proto__', 'constructor')), hostileJson).map(([name, value]) => json({ ...valid, [name]: value })) },
    // not an object, not JSON, or labelled as something else
    { weight: 1, arbitrary: hostileJson.map((value) => json(value)) },
    { weight: 1, arbitrary: fc.constantFrom('{"a":', '{"a":1}x', '\uFEFF{}', '{"a":1,"a":2}', '['.repeat(5000), '{"__proto__":{"roles":["admin"]},"name":"x"}', 'null', '"text"', '1e999', '')
      .map((text) => ({ type: 'application/json', bytes: utf8(text) })) },
    { weight: 1, arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', 'application/json; charset=utf-16', 'application/json; charset=bogus', 'application/jsonx', undefined)
      .map((type) => ({ type, bytes: utf8(JSON.stringify(valid)) })) },
    // past the size limit, and valid JSON nested deeper than anything needs (recursive validators overflow their stack)
    { weight: 1, arbitrary: fc.tuple(field, huge).map(([name, text]) => json({ ...valid, [name]: text })) },
    { weight: 1, arbitrary: fc.tuple(field, fc.integer({ min: 20, max: 20_000 }), fc.boolean()).map(([name, depth, arrays]) => {
      const nested = arrays ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      // the member comes last, so its placeholder value is the end of the text
      return { type: 'application/json', bytes: utf8(`${JSON.stringify({ ...without(name), [name]: 0 }).slice(0, -2)}${nested}}`) };
    }) },
  );
}

/** A path segment: one of the given ids (so routes resolve), or anything a client can put there. */
export function segment(ids: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 5, arbitrary: ids.length ? fc.constantFrom(...ids) : fc.constant('x') },
    { weight: 2, arbitrary: hostileText.chain((text) => encodedValue(text)).filter((text) => text.length > 0) },
    { weight: 1, arbitrary: fc.constantFrom('%2F', '..', '%2e%2e', '%00', '%', '%E0%A4', 'a%2Fb', ';', '%3Fx', 'x'.repeat(5000)) },
  );
}

export interface JsonRoute {
  /** the first is the route's own method, which most requests use */
  methods: readonly string[];
  paths: fc.Arbitrary<string>;
  /** a valid body, to send as is or broken (bodies also go with methods that take none) */
  body?: Record<string, unknown>;
}

/**
 * A request to one of our REST routes: mostly with the caller's proper token, else another
 * token, a broken one or none; a valid JSON body or one broken in one place, or not JSON.
 */
export function jsonRequest(routes: JsonRoute[], token: string, authorization: fc.Arbitrary<string>): fc.Arbitrary<Sent> {
  return fc.constantFrom(...routes).chain(({ methods, paths, body }) => fc.record({
    method: fc.oneof({ weight: 6, arbitrary: fc.constant(methods[0]!) }, { weight: 1, arbitrary: fc.constantFrom(...methods, 'PATCH', 'OPTIONS', 'HEAD') }),
    path: paths,
    auth: fc.oneof({ weight: 5, arbitrary: fc.constant(`Bearer ${token}`) }, { weight: 2, arbitrary: authorization }, { weight: 1, arbitrary: fc.constant(null) }),
    body: fc.oneof({ weight: body ? 8 : 1, arbitrary: jsonBody(body ?? {}) }, { weight: body ? 1 : 4, arbitrary: fc.constant(null) }),
    noise: noiseHeaders,
  })).map(({ method, path, auth, body, noise }): Sent => {
    const headers: Record<string, string> = { ...noise };
    if (auth) headers.authorization = auth;
    if (body?.type) headers['content-type'] = body.type;
    return { method, path, headers, body: body && method !== 'GET' && method !== 'HEAD' ? body.bytes : undefined };
  });
}

/** `?name=value&...` from the given parameters (each maybe twice, maybe broken), or nothing. */
export function query(known: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<string> {
  return fc.option(randomParams(known).chain(urlEncoded).map((encoded) => (encoded ? `?${encoded}` : '')), { freq: 3 }).map((q) => q ?? '');
}
