/**
 * The CIBA client's `custom_message`, sent by SMS or email from the IdP's own sender next to
 * the IdP's link: a phishing message would borrow our sender's trust. It must read as plain
 * words, as a phishing filter wants it: nothing a reader could open, type or call (a URL, a host
 * name however its dots are written, an IP address, an @ address, a phone number). Characters
 * outside the set (@, /, brackets, look-alike dots that are punctuation) fail the first check.
 */
export const MAX_MESSAGE_LENGTH = 200;

/** Letters drawn as a dot (U+A78F ꞏ, U+A4F8 ꓸ, U+A4F9 ꓹ, U+1427 ᐧ): they stand in for one in a host name. */
const DOT_LIKE_LETTERS = String.raw`\uA78F\uA4F8\uA4F9\u1427`;
/** Modifier letters of ordinary Japanese, Thai and Lao words; other modifier letters (ˑ ˌ ...) are left out. */
const WORD_MARKS = String.raw`\u3005\u309D\u309E\u30FC\u30FD\u30FE\u0E46\u0EC6`;
const LETTER = String.raw`(?![${DOT_LIKE_LETTERS}])(?:(?!\p{Lm})\p{L}|[${WORD_MARKS}])`;
/** Letters, decimal digits, spaces and . , : ; ! ? ' " ( ) - */
const TEXT = new RegExp(String.raw`^(?:${LETTER}|[\p{Nd} .,:;!?'"()-]){1,${MAX_MESSAGE_LENGTH}}$`, 'u');

/** Top-level domains after a full stop and a space ("evil. Com"), bar those that start sentences (To, Me, Us, De). */
const TLDS = 'com|net|org|io|ru|cn|xyz|biz|tk|ml|ga|cf|gq|su|pw|ly|cc|ws';

/** [why, pattern] in the order a reader sees them; the first that matches is the answer. */
const ADDRESS_LIKE: Array<[string, RegExp]> = [
  ['a link', /\b(?:https?|www|ftp|mailto)\b/iu],
  // evil(.)com, evil (dot) com, evil dot com (square and curly brackets fail the first check)
  ['a written-out dot', /\(\s*(?:\.|dot)\s*\)|[\p{L}\p{Nd}]\s+dot\s+[\p{L}\p{Nd}]/iu],
  ['an IP address', /\p{Nd}\s*\.\s*\p{Nd}+\s*\.\s*\p{Nd}+\s*\.\s*\p{Nd}/u],
  ['an IP address', /[\p{Nd}a-f]*:[\p{Nd}a-f]*:[\p{Nd}a-f]*/iu],
  ['a phone number', /(?:\p{Nd}[\s().-]*){7}/u],
  // evil.com, Evil.COM, login.bank: a dot with a letter or digit right before and a letter right after
  ['a host name', /[\p{L}\p{Nd}-]\.\p{L}/u],
  // evil .com, evil . com: normal text puts no space before a dot that continues
  ['a host name', /\s\.\s*[\p{L}\p{Nd}]/u],
  // evil. com: after a sentence's full stop comes a capital, not a lowercase label
  ['a host name', /[\p{L}\p{Nd}]\.\s+\p{Ll}/u],
  // evil. Com, evil. NET
  ['a host name', new RegExp(String.raw`\.\s+(?:${TLDS})\b`, 'iu')],
];

/** The message as it is sent: compatibility forms folded (a full-width dot is a dot), one line. */
export function normalizedMessage(message: string): string {
  return message.normalize('NFKC').trim();
}

/** Why `message` (normalized) cannot go out from our sender, or undefined when it can. */
export function customMessageProblem(message: string): string | undefined {
  if (!TEXT.test(message)) return `must be 1 to ${MAX_MESSAGE_LENGTH} characters of letters, digits, spaces and . , : ; ! ? ' " ( ) -`;
  const found = ADDRESS_LIKE.find(([, pattern]) => pattern.test(message));
  return found ? `must not contain anything that reads as ${found[0]}` : undefined;
}
