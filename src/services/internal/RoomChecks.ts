/**
 * The address checks of `Rooms`, memoized (`memoCheck`): the same few addresses are checked on
 * every message, and parsing costs more than a lookup.
 */
import { Either } from "effect"
import { type Address, formatAddress, parseAddress } from "../../domain/Address.js"
import { ActorsError } from "../../domain/Run.js"
import { memoCheck } from "./MemoCheck.js"

const invalid = (message: string) => new ActorsError({ reason: "invalid", message })

const checkRoom = (text: string): Either.Either<string, ActorsError> => {
  const parsed = parseAddress(text)
  if (Either.isLeft(parsed)) return Either.left(invalid(parsed.left.message))
  if (parsed.right._tag !== "Room") return Either.left(invalid(`${formatAddress(parsed.right)} is not a room; rooms are room:<run>`))
  return Either.right(formatAddress(parsed.right))
}

const checkAny = (text: string): Either.Either<string, ActorsError> =>
  Either.match(parseAddress(text), {
    onLeft: (e) => Either.left(invalid(e.message)),
    onRight: (a: Address) => Either.right(formatAddress(a))
  })

/** The canonical `room:<run>` text of a room address (`room:x/main` → `room:x`), or `invalid`. */
export const roomAddress = memoCheck(checkRoom)

/** `roomAddress` for the message hot path (`touch`), with a cache of its own. */
export const roomAddressMemo = memoCheck(checkRoom)

/** `anyAddress` for the message hot path (`touch`), with a cache of its own. */
export const anyAddressMemo = memoCheck(checkAny)

/** The canonical text of any address (`parent`, `self`), or `invalid`. */
export const anyAddress = memoCheck(checkAny)
