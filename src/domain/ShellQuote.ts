/**
 * POSIX shell quoting of argv words, for command lines sent to a remote shell (`Ssh`) and for
 * showing a leaf's argv (`troupe run --dry-run`): a word of safe characters stays as it is,
 * any other is single-quoted (`it's` → `'it'\''s'`).
 */

/** Quotes one word for a POSIX shell: `it's` → `'it'\''s'`, `a b` → `'a b'`, `""` → `''`. */
export const shellQuoteWord = (word: string): string => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)

/** Joins argv into one command line, each word quoted where needed: `["ls", "a b"]` → `ls 'a b'`. */
export const shellQuote = (argv: ReadonlyArray<string>): string => argv.map(shellQuoteWord).join(" ")
