import { identitySkeleton, principalIdentityKeys, skeleton, withSkeletons } from '../../policy/confusables';
import { authorKeys, canonicalEmail, canonicalText, principalKeys, sharesIdentity } from '../../policy/identity';

// The directory's Alice: what her approvals carry.
const ALICE = principalKeys({
  emails: ['alice@example.com'],
  logins: ['alice'],
  subjects: ['00u1AbCdEf'],
});

describe('canonicalText', () => {
  it.each([
    ['Alice@Example.COM', 'alice@example.com'],
    ['  alice@example.com\t\n', 'alice@example.com'],
    ['ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ', 'alice@example.com'],
    ['al\u200Bi\u200Cc\u200De@example.com', 'alice@example.com'],
    ['\uFEFFalice\u2060@example.com\u00AD', 'alice@example.com'],
    ['ali\u200Ece\u200F@example.com', 'alice@example.com'],
    ['ali\u2063ce@exa\u180Emple.com', 'alice@example.com'],
    ['\uFB01n@example.com', 'fin@example.com'], // the "ﬁ" ligature
  ])('%j → %j', (input, expected) => {
    expect(canonicalText(input)).toBe(expected);
  });
});

describe('canonicalEmail', () => {
  it.each([
    ['alice@example.com', 'alice@example.com'],
    ['alice+test@example.com', 'alice@example.com'],
    ['alice+a+b@example.com', 'alice@example.com'],
    ['ALICE+Test@EXAMPLE.com', 'alice@example.com'],
    ['no-at-sign', 'no-at-sign'],
    ['@leading', '@leading'],
  ])('%j → %j', (input, expected) => {
    expect(canonicalEmail(input)).toBe(expected);
  });
});

describe('authorKeys', () => {
  it.each<[string, string[]]>([
    ['alice@example.com', ['email:alice@example.com']],
    ['alice', ['login:alice']],
    ['@alice', ['login:alice']],
    ['Alice <alice@example.com>', ['email:alice@example.com']],
    ['Co-authored-by: Alice <alice@example.com>', ['email:alice@example.com']],
    ['12345+alice@users.noreply.github.com', ['email:12345@users.noreply.github.com', 'login:alice']],
    ['alice@users.noreply.github.com', ['email:alice@users.noreply.github.com', 'login:alice']],
    ['', []],
    ['   ', []],
    ['\u200B\u200B', []],
    ['@', []],
    ['Nobody <>', []],
  ])('%j → %j', (entry, keys) => {
    expect(authorKeys(entry)).toEqual(keys);
  });
});

describe('adversarial spellings of Alice are Alice', () => {
  it.each([
    ['plain email', 'alice@example.com'],
    ['upper case', 'ALICE@EXAMPLE.COM'],
    ['mixed case', 'Alice@Example.Com'],
    ['surrounding spaces', '   alice@example.com  '],
    ['tabs and newline', '\talice@example.com\n'],
    ['fullwidth letters (NFKC)', 'ａｌｉｃｅ@example.com'],
    ['fullwidth everything (NFKC)', 'ＡＬＩＣＥ＠ＥＸＡＭＰＬＥ．ＣＯＭ'],
    ['zero-width space', 'ali\u200Bce@example.com'],
    ['zero-width joiner and non-joiner', 'a\u200Dli\u200Cce@example.com'],
    ['word joiner and BOM', '\uFEFFalice\u2060@example.com'],
    ['soft hyphen', 'ali\u00ADce@example.com'],
    ['left-to-right mark', 'alice\u200E@example.com'],
    ['invisible separator', 'al\u2063ice@example.com'],
    ['name and address', 'Alice <alice@example.com>'],
    ['name and address, odd spacing', '  "Alice Liddell"   < ALICE@example.com >  '],
    ['name and address, trailing zero-width', 'Alice <alice@example.com>\u200B'],
    ['bare angle address', '<alice@example.com>'],
    ['Co-authored-by trailer', 'Co-authored-by: Alice <ALICE@Example.com>'],
    ['co-authored-by trailer, lower case', 'co-authored-by:Alice <alice@example.com>'],
    ['trailer with extra spaces', '  CO-AUTHORED-BY :  Alice <alice@example.com>'],
    ['trailer with zero-width inside the keyword', 'Co-\u200Bauthored-by: Alice <alice@example.com>'],
    ['sub-addressing', 'alice+test@example.com'],
    ['sub-addressing, upper case', 'ALICE+Deploy@EXAMPLE.COM'],
    ['sub-addressing in a trailer', 'Co-authored-by: A <alice+ci@example.com>'],
    ['GitHub noreply with id', '12345+alice@users.noreply.github.com'],
    ['GitHub noreply without id', 'alice@users.noreply.github.com'],
    ['GitHub noreply, upper case', '12345+ALICE@USERS.NOREPLY.GITHUB.COM'],
    ['GitHub noreply in a trailer', 'Co-authored-by: Alice <12345+alice@users.noreply.github.com>'],
    ['login', 'alice'],
    ['@login', '@alice'],
    ['@login, upper case with spaces', '  @Alice '],
    ['login, fullwidth', 'ａｌｉｃｅ'],
    ['@login, fullwidth at sign', '＠alice'],
  ])('%s: %j', (_label, spelling) => {
    const keys = authorKeys(spelling);
    expect(keys.length).toBeGreaterThan(0);
    expect(sharesIdentity(ALICE, keys)).toBe(true);
    expect(sharesIdentity(keys, ALICE)).toBe(true);
  });

  it.each([
    ['directory email upper case', { emails: ['ALICE@EXAMPLE.COM'] }, 'alice@example.com'],
    ['directory email sub-addressed', { emails: ['alice+corp@example.com'] }, 'Alice <alice@example.com>'],
    ['directory login with @', { logins: ['@Alice'] }, 'alice'],
    ['directory login matches noreply author', { logins: ['alice'] }, '12345+alice@users.noreply.github.com'],
    ['directory noreply matches login author', { emails: ['alice@users.noreply.github.com'] }, '@alice'],
    ['directory login with zero-width', { logins: ['ali\u200Bce'] }, 'alice'],
  ])('%s', (_label, identities, author) => {
    expect(sharesIdentity(principalKeys(identities), authorKeys(author))).toBe(true);
  });
});

describe('what must not match', () => {
  it.each([
    ['a different person', 'bob@example.com'],
    ['a different domain', 'alice@example.org'],
    ['a look-alike local part', 'alice2@example.com'],
    ['a different login', 'alicia'],
    ['a different GitHub login via noreply', '12345+bob@users.noreply.github.com'],
    ['a display name without an address', 'Alice Liddell'],
    ['a subject spelled like Alice\'s login is not a login', '00u1abcdef'],
  ])('%s: %j', (_label, spelling) => {
    expect(sharesIdentity(ALICE, authorKeys(spelling))).toBe(false);
  });

  it.each([
    ['subject case differs', ['00u1AbCdEf'], ['00U1ABCDEF'], false],
    ['subject case differs the other way', ['auth0|Alice'], ['auth0|alice'], false],
    ['subject fullwidth is not folded', ['abc'], ['ａｂｃ'], false],
    ['identical subject', ['00u1AbCdEf'], ['00u1AbCdEf'], true],
    ['identical subject, surrounding spaces trimmed', ['00u1AbCdEf'], ['  00u1AbCdEf '], true],
  ])('%s', (_label, a, b, expected) => {
    expect(sharesIdentity(principalKeys({ subjects: a }), principalKeys({ subjects: b }))).toBe(expected);
  });

  it('a subject never matches an email or a login of the same text', () => {
    const subjectOnly = principalKeys({ subjects: ['alice'] });
    expect(subjectOnly).toEqual(['subject:alice']);
    expect(sharesIdentity(subjectOnly, authorKeys('alice'))).toBe(false);
    expect(sharesIdentity(subjectOnly, principalKeys({ logins: ['alice'], emails: ['alice@example.com'] }))).toBe(false);
  });

  it.each<[string, Parameters<typeof principalKeys>[0], string[]]>([
    ['nothing at all', {}, []],
    ['empty lists', { emails: [], logins: [], subjects: [] }, []],
    ['empty strings', { emails: [''], logins: [''], subjects: [''] }, []],
    ['blank strings', { emails: ['  '], logins: [' \t'], subjects: ['   '] }, []],
    ['zero-width only', { emails: ['\u200B'], logins: ['\uFEFF'] }, []],
    ['a lone @ login', { logins: ['@'] }, []],
  ])('%s gives no keys', (_label, identities, expected) => {
    expect(principalKeys(identities)).toEqual(expected);
  });

  it.each(['', ' ', '\u200B', '@', 'Nobody <>', 'Co-authored-by: '])('author entry %j gives no keys', (entry) => {
    expect(authorKeys(entry)).toEqual([]);
  });

  it('two people with no keys share no identity', () => {
    expect(sharesIdentity(authorKeys(''), principalKeys({ emails: [''] }))).toBe(false);
    expect(sharesIdentity([], [])).toBe(false);
  });
});

describe('principalKeys', () => {
  it('types and deduplicates the keys', () => {
    expect(
      principalKeys({
        emails: ['Alice@Example.com', 'alice+x@example.com', '12345+alice@users.noreply.github.com'],
        logins: ['alice', '@ALICE'],
        subjects: ['sub-1', 'sub-1'],
      }),
    ).toEqual([
      'email:alice@example.com',
      'email:12345@users.noreply.github.com',
      'login:alice',
      'subject:sub-1',
    ]);
  });
});

describe('sharesIdentity', () => {
  it.each<[string[], string[], boolean]>([
    [['email:a@x'], ['email:a@x'], true],
    [['email:a@x', 'login:a'], ['login:b', 'login:a'], true],
    [['email:a@x'], ['login:a@x'], false],
    [['login:a'], [], false],
    [[], ['login:a'], false],
  ])('%j ∩ %j → %s', (a, b, expected) => {
    expect(sharesIdentity(a, b)).toBe(expected);
  });
});

describe('an entry that names several people names every one of them', () => {
  it.each<[string, string, string[]]>([
    ['two name-addresses, comma separated', 'Alice <alice@example.com>, Zed <zed@example.com>', ['email:alice@example.com', 'email:zed@example.com']],
    ['two name-addresses, semicolon separated', 'Alice <alice@example.com>; Zed <zed@example.com>', ['email:alice@example.com', 'email:zed@example.com']],
    ['two bare addresses, comma separated', 'alice@example.com, zed@example.com', ['email:alice@example.com', 'email:zed@example.com']],
    ['two bare addresses, space separated', 'alice@example.com zed@example.com', ['email:alice@example.com', 'email:zed@example.com']],
    ['an address hidden in the display name', '"alice@example.com" <zed@example.com>', ['email:alice@example.com', 'email:zed@example.com']],
    ['a bare address before a name-address', 'alice@example.com Zed <zed@example.com>', ['email:alice@example.com', 'email:zed@example.com']],
    ['a quoted display name with a comma', '"Liddell, Alice" <alice@example.com>', ['email:alice@example.com']],
    ['a trailer naming two people', 'Co-authored-by: Alice <alice@example.com>, Zed <zed@example.com>', ['email:alice@example.com', 'email:zed@example.com']],
    ['a list of logins', '@alice, @zed', ['login:alice', 'login:zed']],
    ['a login and an address', 'alice; zed@example.com', ['login:alice', 'email:zed@example.com']],
    ['a name-login', 'Alice <alice>, Zed <zed@example.com>', ['login:alice', 'email:zed@example.com']],
    ['fullwidth comma (NFKC)', 'Zed <zed@example.com>，Alice <alice@example.com>', ['email:zed@example.com', 'email:alice@example.com']],
    ['ideographic punctuation between addresses', 'zed@example.com、alice@example.com', ['email:zed@example.com', 'email:alice@example.com']],
    ['angle brackets around a list', '<alice@example.com, zed@example.com>', ['email:alice@example.com', 'email:zed@example.com']],
    ['an address then text', 'Alice <alice@example.com> (reviewer)', ['email:alice@example.com']],
  ])('%s: %j', (_label, entry, keys) => {
    expect(authorKeys(entry)).toEqual(keys);
  });

  it.each([
    'Alice <alice@example.com>, Zed <zed@example.com>',
    'Zed <zed@example.com>, Alice <alice@example.com>',
    'zed@example.com; alice+ci@example.com',
    'Zed <zed@example.com> alice@example.com',
    '"Alice <alice@example.com>" <zed@example.com>',
    'Co-authored-by: Zed <zed@example.com>, Alice <ALICE@example.com>',
    'zed@example.com,@alice',
  ])('refuses Alice when she is any one of several people in one entry: %j', (entry) => {
    expect(sharesIdentity(ALICE, authorKeys(entry))).toBe(true);
  });
});

// What the API puts into a request and into every Person: canonical keys and their UTS #39 skeletons.
const authorOf = (entry: string) => withSkeletons(authorKeys(entry));
const ALICE_AS_STORED = principalIdentityKeys({ emails: ['alice@example.com'], logins: ['alice'], subjects: ['00u1AbCdEf'] });

describe('UTS #39 skeletons', () => {
  it.each([
    ['Latin is its own skeleton', 'alice', 'alice'],
    ['Cyrillic а (U+0430)', '\u0430lice', 'alice'],
    ['Cyrillic е (U+0435)', 'alic\u0435', 'alice'],
    ['Greek ο (U+03BF)', 'b\u03BFb', 'bob'],
    ['Greek α (U+03B1)', '\u03B1lice', 'alice'],
    ['Latin alpha ɑ (U+0251)', '\u0251lice', 'alice'],
    ['Cyrillic і (U+0456)', 'al\u0456ce', 'alice'],
    ['dotless ı (U+0131)', 'al\u0131ce', 'alice'],
    ['digit one for l', 'a1ice', 'alice'],
    ['digit zero for o, case folded', 'b0b', 'bob'],
    ['rn for m', 'rnallory', 'mallory'],
  ])('%s: %j looks like %j', (_label, spoof, real) => {
    expect(identitySkeleton(spoof)).toBe(identitySkeleton(real));
  });

  it.each([
    ['alice', 'alicia'],
    ['alice', 'alice2'],
    ['bob', 'rob'],
    ['alice@example.com', 'alice@example.org'],
  ])('%j and %j are different people', (a, b) => {
    expect(identitySkeleton(a)).not.toBe(identitySkeleton(b));
  });

  it('maps with the real confusables.txt table (m → rn, 0 → O)', () => {
    expect(skeleton('m')).toBe('rn');
    expect(skeleton('0')).toBe('O');
    expect(skeleton('\u0430')).toBe('a');
  });

  it('adds a skeleton key to every email and login key, none to subjects', () => {
    expect(withSkeletons(['email:alice@example.com', 'login:alice', 'subject:Alice'])).toEqual([
      'email:alice@example.com',
      'login:alice',
      'subject:Alice',
      `skeleton:email:${identitySkeleton('alice@example.com')}`,
      `skeleton:login:${identitySkeleton('alice')}`,
    ]);
    expect(withSkeletons(withSkeletons(['login:alice']))).toEqual(withSkeletons(['login:alice']));
    expect(withSkeletons([])).toEqual([]);
  });
});

describe('look-alike spellings of Alice are Alice', () => {
  it.each([
    ['Cyrillic а in the email', '\u0430lice@example.com'],
    ['Cyrillic а and е in the email', '\u0430lic\u0435@example.com'],
    ['Cyrillic upper-case А in the email', '\u0410LICE@EXAMPLE.COM'],
    ['Cyrillic о in the domain', 'alice@exampl\u0435.c\u043Em'],
    ['Greek ο in the domain', 'alice@example.c\u03BFm'],
    ['Greek α in the email', '\u03B1lice@example.com'],
    ['Cyrillic і in the email', 'al\u0456ce@example.com'],
    ['digit one for l', 'a1ice@example.com'],
    ['Cyrillic in a name-address', 'Alice <\u0430lice@example.com>'],
    ['Cyrillic in a trailer', 'Co-authored-by: Alice <\u0430lice+x@example.com>'],
    ['Cyrillic in the login', '@\u0430lice'],
    ['Greek in the login', '\u03B1lice'],
    ['Cyrillic in a GitHub noreply login', '12345+\u0430lice@users.noreply.github.com'],
    ['Cyrillic, second of several people', 'Zed <zed@example.com>, Alice <\u0430lice@example.com>'],
  ])('%s: %j', (_label, spelling) => {
    // Without skeletons the spoof is a stranger...
    expect(sharesIdentity(ALICE, authorKeys(spelling))).toBe(false);
    // ...with them, Alice.
    expect(sharesIdentity(ALICE_AS_STORED, authorOf(spelling))).toBe(true);
    expect(sharesIdentity(authorOf(spelling), ALICE_AS_STORED)).toBe(true);
  });

  it.each([
    ['a different person', 'bob@example.com'],
    ['a different domain', 'alice@example.org'],
    ['a look-alike local part that is a different name', 'alicia@example.com'],
    ['a digit appended', 'alice2@example.com'],
    ['a subject spelled like Alice\'s login', '00u1abcdef'],
  ])('still not Alice: %s: %j', (_label, spelling) => {
    expect(sharesIdentity(ALICE_AS_STORED, authorOf(spelling))).toBe(false);
  });

  it('a directory identity with look-alike letters is confusable with the real one', () => {
    expect(sharesIdentity(principalIdentityKeys({ logins: ['\u0430lice'] }), ALICE_AS_STORED)).toBe(true);
    expect(sharesIdentity(principalIdentityKeys({ subjects: ['\u0430lice'] }), principalIdentityKeys({ subjects: ['alice'] }))).toBe(false);
  });
});
