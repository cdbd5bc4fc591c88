import { describe, expect, it } from '@jest/globals';
import { parseRequestContext } from '../../lib/ciba/request-context.js';

/** What the backchannel endpoint answers for a request_context with this custom_message. */
function outcome(customMessage: string): string {
  try {
    return `sent: ${parseRequestContext(JSON.stringify({ channel: 'sms', custom_message: customMessage })).custom_message}`;
  } catch (err) {
    return (err as { error_description: string }).error_description;
  }
}

const refused = (why: string) => `request_context: custom_message must not contain anything that reads as ${why}`;
const OUTSIDE_THE_SET = 'request_context: custom_message must be 1 to 200 characters of letters, digits, spaces and . , : ; ! ? \' " ( ) -';

/**
 * The client's custom_message goes out by SMS or email from the IdP's own sender: what a
 * phishing filter would let through, and nothing else. Each row: the message, the answer.
 */
describe('CIBA custom_message', () => {
  it.each([
    // ordinary sentences stay
    ['Approve login to Acme Bank', 'sent: Approve login to Acme Bank'],
    ['Transfer of 10.50 EUR', 'sent: Transfer of 10.50 EUR'],
    ['Payment of 1,250.00 EUR to John Smith. Is this you?', 'sent: Payment of 1,250.00 EUR to John Smith. Is this you?'],
    ['Approve login. To continue, tap the link below:', 'sent: Approve login. To continue, tap the link below:'],
    ['Hi Ada, confirm your sign-in at 10:30 (step 2 of 3).', 'sent: Hi Ada, confirm your sign-in at 10:30 (step 2 of 3).'],
    ['"Acme" asks: is it you?', 'sent: "Acme" asks: is it you?'],
    ['Bestätigen Sie Ihre Anmeldung bei der Acme Bank.', 'sent: Bestätigen Sie Ihre Anmeldung bei der Acme Bank.'],
    ['Подтвердите вход в банк', 'sent: Подтвердите вход в банк'],
    ['ユーザー確認', 'sent: ユーザー確認'],
    ['  Approve login  ', 'sent: Approve login'],
    // the reported bypasses
    ['open 203.0.113.7 and enter your password', refused('an IP address')],
    ['evil .com', refused('a host name')],
    ['evil(.)com', refused('a written-out dot')],
    // host names however the dot is written
    ['visit evil.example', refused('a host name')],
    ['Visit Evil.COM now', refused('a host name')],
    ['evil . com', refused('a host name')],
    ['evil. com', refused('a host name')],
    ['Go to evil. Com', refused('a host name')],
    ['evil ( . ) com', refused('a written-out dot')],
    ['evil (dot) com', refused('a written-out dot')],
    ['evil dot com', refused('a written-out dot')],
    ['evil DOT com', refused('a written-out dot')],
    ['evil[.]com', OUTSIDE_THE_SET],
    ['evil{.}com', OUTSIDE_THE_SET],
    ['login-acme.bank', refused('a host name')],
    ['xn--80ak6aa92e.com', refused('a host name')],
    // look-alike dots: folded to a dot, or letters drawn as one, or punctuation outside the set
    ['evil\uFF0Ecom', refused('a host name')], // full-width full stop
    ['evil\u2024com', refused('a host name')], // one dot leader
    ['evil\uFE52com', refused('a host name')], // small full stop
    ['evil\u3002com', OUTSIDE_THE_SET], // ideographic full stop
    ['evil\u00B7com', OUTSIDE_THE_SET], // middle dot
    ['evil\uA78Fcom', OUTSIDE_THE_SET], // Latin letter sinological dot
    ['evil\uA4F8com', OUTSIDE_THE_SET], // Lisu letter tone mya ti
    ['evil\u1427com', OUTSIDE_THE_SET], // Canadian syllabics final middle dot
    ['evil\u02D1com', OUTSIDE_THE_SET], // modifier letter half triangular colon
    ['evil\u0307com', OUTSIDE_THE_SET], // combining dot above
    // IP addresses, spaced or full-width, and IPv6
    ['open 203 . 0 . 113 . 7', refused('an IP address')],
    ['open \uFF12\uFF10\uFF13.0.113.7', refused('an IP address')],
    ['open 2001:db8::1', refused('an IP address')],
    // links and addresses
    ['Account locked, visit https://evil.example', OUTSIDE_THE_SET],
    ['go to www evil com', refused('a link')],
    ['https evil', refused('a link')],
    ['Call us: help@evil.example', OUTSIDE_THE_SET],
    ['help\uFF20evil', OUTSIDE_THE_SET], // full-width @ folds to @
    // a number to call
    ['Not you? Call 0800 123 4567', refused('a phone number')],
    ['Not you? Call (555) 123-4567', refused('a phone number')],
    // one line of text
    ['two\nlines', OUTSIDE_THE_SET],
    ['tab\there', OUTSIDE_THE_SET],
    ['', OUTSIDE_THE_SET],
    ['x'.repeat(201), OUTSIDE_THE_SET],
  ])('%j -> %s', (message, expected) => {
    expect(outcome(message)).toBe(expected);
  });

  it('the default message passes its own rules', () => {
    expect(parseRequestContext(JSON.stringify({ channel: 'email' })).custom_message).toBe('To verify it\'s you, click this link:');
  });
});
