/**
 * Agreement with pi-actors 0.17.1, case by case (issue 12). Every row was run through pi-actors
 * 0.17.1's own `lib/execution.ts` under Node 22 (outside this repository) and through troupe;
 * `pi` holds pi-actors' outcome — the exact bytes of the whole template's stdout, or its error
 * text. A row without `troupe` asserts that troupe produces exactly that. A row with `troupe`
 * is a deliberate divergence of SPEC-runtime §1, named by `divergence` and listed in the
 * "Differences from pi-actors 0.17" table of docs/templates.md; troupe's outcome is asserted.
 *
 * Top-level `defaults` are recipe defaults; `values` are runtime values. `@DIR@` is a scratch
 * directory (attempt counters), `@E1000@` a run of 1,000 `e` characters.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { CommandGraph } from "../../src/services/CommandGraph.js"
import { graphLayer, runTemplate, scratch } from "../support/graph.js"

type Outcome = { readonly stdout: string; readonly ok: boolean } | { readonly error: string }

/** Keys of the divergence table in docs/templates.md. */
type Divergence =
  | "not-flag"
  | "when-text"
  | "off-false"
  | "json-defaults"
  | "last-step"
  | "labels"
  | "no-usable"
  | "repeat-0"
  | "bool-forms"
  | "fallback"
  | "ternary-untyped"
  | "empty-literal"
  | "brace-escape"
  | "literal-braces"
  | "unknown-type"
  | "backslash"
  | "timeout-code"
  | "message"
  | "node-timeout"
  | "nested-arrays"
  | "length-placeholder"
  | "repeat-failure"

interface Row {
  readonly name: string
  readonly template: unknown
  readonly values?: Record<string, unknown>
  readonly defaults?: Record<string, unknown>
  readonly args?: ReadonlyArray<string>
  readonly pi: Outcome
  readonly troupe?: Outcome
  readonly divergence?: Divergence
}

const rows: ReadonlyArray<Row> = [
  { name: "when bare true", template: ["echo in", {when: "flag", template: "echo ran"}], values: {flag: "yes"}, pi: {stdout: "ran\n", ok: true} },
  { name: "when bare missing", template: ["echo in", {when: "flag", template: "echo ran"}], pi: {stdout: "in\n", ok: true} },
  { name: "when bare false text", template: ["echo in", {when: "flag", template: "echo ran"}], values: {flag: "no"}, pi: {stdout: "in\n", ok: true} },
  { name: "when !bare missing", template: ["echo in", {when: "!flag", template: "echo ran"}], pi: {stdout: "ran\n", ok: true} },
  { name: "when !bare true", template: ["echo in", {when: "!flag", template: "echo ran"}], values: {flag: "true"}, pi: {stdout: "in\n", ok: true} },
  { name: "when {flag} true", template: ["echo in", {when: "{flag}", template: "echo ran"}], values: {flag: "1"}, pi: {stdout: "ran\n", ok: true} },
  { name: "when {flag} 0", template: ["echo in", {when: "{flag}", template: "echo ran"}], values: {flag: "0"}, pi: {stdout: "in\n", ok: true} },
  { name: "when {flag} missing", template: ["echo in", {when: "{flag}", template: "echo ran"}], pi: {stdout: "in\n", ok: true} },
  { name: "when !{flag} false", template: ["echo in", {when: "!{flag}", template: "echo ran"}], values: {flag: "no"}, pi: {stdout: "ran\n", ok: true} },
  { name: "when !{flag} true", template: ["echo in", {when: "!{flag}", template: "echo ran"}], values: {flag: "yes"}, troupe: {stdout: "in\n", ok: true}, pi: {stdout: "ran\n", ok: true}, divergence: "not-flag" },
  { name: "when true", template: ["echo in", {when: true, template: "echo ran"}], pi: {stdout: "ran\n", ok: true} },
  { name: "when false", template: ["echo in", {when: false, template: "echo ran"}], pi: {stdout: "in\n", ok: true} },
  { name: "when empty string", template: ["echo in", {when: "", template: "echo ran"}], pi: {stdout: "in\n", ok: true} },
  { name: "when text two placeholders", template: ["echo in", {when: "{a}{b}", template: "echo ran"}], values: {a: "", b: "x"}, troupe: {stdout: "ran\n", ok: true}, pi: {stdout: "in\n", ok: true}, divergence: "when-text" },
  { name: "when text literal yes", template: ["echo in", {when: "yes", template: "echo ran"}], pi: {stdout: "in\n", ok: true} },
  { name: "when ternary", template: ["echo in", {when: "{mode?go:}", template: "echo ran"}], values: {mode: "1"}, pi: {stdout: "ran\n", ok: true} },
  { name: "when flag from defaults", template: ["echo in", {when: "flag", template: "echo ran"}], defaults: {flag: "yes"}, pi: {stdout: "ran\n", ok: true} },
  { name: "when off", template: ["echo in", {when: "{flag}", template: "echo ran"}], values: {flag: "off"}, troupe: {stdout: "in\n", ok: true}, pi: {stdout: "ran\n", ok: true}, divergence: "off-false" },
  { name: "derived default", template: "echo {directory}", defaults: {directory: "{repo}/{docs_dir}", repo: "r", docs_dir: "d"}, pi: {stdout: "r/d\n", ok: true} },
  { name: "derived default runtime wins", template: "echo {directory}", values: {repo: "R"}, defaults: {directory: "{repo}/{docs_dir}", repo: "r", docs_dir: "d"}, pi: {stdout: "R/d\n", ok: true} },
  { name: "derived default two levels", template: "echo {c}", defaults: {a: "x", b: "{a}{a}", c: "[{b}]"}, pi: {stdout: "[xx]\n", ok: true} },
  { name: "recursion limit", template: "echo {a}", defaults: {a: "{b}", b: "{a}"}, pi: {error: "Command template value recursion exceeded: a"} },
  { name: "child {x} from parent default", template: {defaults: {m: "gpt"}, template: {defaults: {model: "{m}"}, template: "echo {model}"}}, pi: {stdout: "gpt\n", ok: true} },
  { name: "child {x} runtime wins", template: {defaults: {m: "gpt"}, template: {defaults: {model: "{m}"}, template: "echo {model}"}}, values: {m: "claude"}, pi: {stdout: "claude\n", ok: true} },
  { name: "child {x[i]} from parent default", template: {defaults: {ms: ["a", "b"]}, template: {defaults: {model: "{ms[1]}"}, template: "echo {model}"}}, troupe: {stdout: "b\n", ok: true}, pi: {error: "Missing command template value: ms[1]"}, divergence: "json-defaults" },
  { name: "sibling default", template: {defaults: {p: "1"}, template: {defaults: {default_model: "gpt", model: "{default_model}"}, template: "echo {model}"}}, pi: {stdout: "gpt\n", ok: true} },
  { name: "sibling default no parent", template: {defaults: {default_model: "gpt", model: "{default_model}"}, template: "echo {model}"}, pi: {stdout: "gpt\n", ok: true} },
  { name: "sibling default runtime", template: {defaults: {p: "1"}, template: {defaults: {default_model: "gpt", model: "{default_model}"}, template: "echo {model}"}}, values: {default_model: "o3"}, pi: {stdout: "o3\n", ok: true} },
  { name: "?? inside value", template: "echo {a}", defaults: {a: "{b??none}"}, pi: {stdout: "none\n", ok: true} },
  { name: "?? inside value present", template: "echo {a}", values: {b: "bee"}, defaults: {a: "{b??none}"}, pi: {stdout: "bee\n", ok: true} },
  { name: "ternary inside value", template: "echo {a}", defaults: {a: "{b?yes:no}"}, pi: {stdout: "no\n", ok: true} },
  { name: "ternary inside value true", template: "echo {a}", values: {b: "1"}, defaults: {a: "{b?yes:no}"}, pi: {stdout: "yes\n", ok: true} },
  { name: "unresolvable value literal", template: "echo {a}", defaults: {a: "x{zzz}y"}, pi: {stdout: "x{zzz}y\n", ok: true} },
  { name: "partly unresolvable value literal", template: "echo {a}", values: {b: "1"}, defaults: {a: "{b}-{zzz}"}, pi: {stdout: "{b}-{zzz}\n", ok: true} },
  { name: "runtime value with placeholder", template: "echo {a}", values: {a: "{b}!", b: "bee"}, pi: {stdout: "bee!\n", ok: true} },
  { name: "value json literal", template: "echo {a}", values: {a: "{\"k\":1}"}, pi: {stdout: "{\"k\":1}\n", ok: true} },
  { name: "value with inline default ph", template: "echo {a}", values: {a: "{q=dflt}"}, pi: {stdout: "dflt\n", ok: true} },
  { name: "value with arith", template: "echo {a}", values: {a: "{n+1}", n: "2"}, pi: {stdout: "3\n", ok: true} },
  { name: "value with index", template: "echo {a}", values: {a: "{xs[0]}", xs: ["p", "q"]}, pi: {stdout: "p\n", ok: true} },
  { name: "numeric default", template: "echo {n}", defaults: {n: 5}, pi: {stdout: "5\n", ok: true} },
  { name: "bool default", template: "echo {n}", defaults: {n: false}, pi: {stdout: "false\n", ok: true} },
  { name: "undeclared default only", template: "echo hi", defaults: {zzz: "unused"}, pi: {stdout: "hi\n", ok: true} },
  { name: "retry 3 succeeds on third", template: {retry: 3, template: "sh -c \"n=$(cat @DIR@/cnt-a 2>/dev/null || echo 0); n=$((n+1)); echo $n > @DIR@/cnt-a; [ $n -ge 3 ] && echo ok$n\""}, pi: {stdout: "ok3\n", ok: true} },
  { name: "retry 2 fails with 3 needed", template: ["echo x", {retry: 2, template: "sh -c \"n=$(cat @DIR@/cnt-b 2>/dev/null || echo 0); n=$((n+1)); echo $n > @DIR@/cnt-b; [ $n -ge 3 ] && echo ok$n\""}, "echo after"], pi: {stdout: "after\n", ok: true} },
  { name: "retry default is one attempt", template: ["echo x", {template: "sh -c \"n=$(cat @DIR@/cnt-c 2>/dev/null || echo 0); n=$((n+1)); echo $n > @DIR@/cnt-c; [ $n -ge 2 ] && echo ok$n\""}, "echo after"], pi: {stdout: "after\n", ok: true} },
  { name: "retry 0 error", template: {retry: 0, template: "echo x"}, pi: {error: "Command template retry must be a positive integer."} },
  { name: "retry placeholder", template: {retry: "{r}", template: "sh -c \"n=$(cat @DIR@/cnt-d 2>/dev/null || echo 0); n=$((n+1)); echo $n > @DIR@/cnt-d; [ $n -ge 2 ] && echo ok$n\""}, values: {r: "2"}, pi: {stdout: "ok2\n", ok: true} },
  { name: "retry sequence with recover", template: {retry: 2, recover: "echo fixing", template: ["echo s1", "sh -c \"n=$(cat @DIR@/cnt-e 2>/dev/null || echo 0); n=$((n+1)); echo $n > @DIR@/cnt-e; [ $n -ge 2 ] && echo ok$n\""]}, troupe: {stdout: "ok2\n", ok: true}, pi: {stdout: "", ok: true}, divergence: "last-step" },
  { name: "retry -1 error", template: {retry: -1, template: "echo x"}, pi: {error: "Command template retry must be a non-negative number."} },
  { name: "retry 1.5 error", template: {retry: 1.5, template: "echo x"}, pi: {error: "Command template retry must be a positive integer."} },
  { name: "join basic", template: {parallel: true, template: ["echo a", {label: "", template: "sh -c 'echo err >&2; exit 3'"}, {label: "L", template: "printf x"}]}, pi: {stdout: "--- branch: branch 1 status: done ---\na\n\n--- branch: branch 2 status: failed ---\nexit: 3\nstderr: err\n\n--- branch: L status: done ---\nx", ok: true} },
  { name: "join failed no stderr", template: {parallel: true, template: ["printf a", "false"]}, pi: {stdout: "--- branch: branch 1 status: done ---\na\n--- branch: branch 2 status: failed ---\nexit: 1", ok: true} },
  { name: "join missing label", template: {parallel: true, template: ["printf a", {template: "printf b"}]}, pi: {stdout: "--- branch: branch 1 status: done ---\na\n--- branch: branch 2 status: done ---\nb", ok: true} },
  { name: "join empty stdout", template: {parallel: true, template: ["true", "printf b"]}, pi: {stdout: "--- branch: branch 1 status: done ---\n\n--- branch: branch 2 status: done ---\nb", ok: true} },
  { name: "join long stderr", template: {parallel: true, template: ["printf a", "sh -c 'head -c 1500 /dev/zero | tr \"\\\\0\" e >&2; exit 2'"]}, pi: {stdout: "--- branch: branch 1 status: done ---\na\n--- branch: branch 2 status: failed ---\nexit: 2\nstderr: @E1000@", ok: true} },
  { name: "join label placeholder", template: {parallel: true, template: [{label: "L-{x}", template: "printf a"}]}, values: {x: "1"}, troupe: {stdout: "--- branch: L-1 status: done ---\na", ok: true}, pi: {stdout: "--- branch: L-{x} status: done ---\na", ok: true}, divergence: "labels" },
  { name: "parallel failure branch", template: {parallel: true, failure: "branch", template: ["printf a", "false"]}, pi: {stdout: "--- branch: branch 1 status: done ---\na\n--- branch: branch 2 status: failed ---\nexit: 1", ok: false} },
  { name: "parallel failure branch in seq", template: ["echo in", {parallel: true, failure: "branch", template: ["printf a", "sh -c 'exit 4'"]}, "echo after"], pi: {stdout: "--- branch: branch 1 status: done ---\na\n--- branch: branch 2 status: failed ---\nexit: 4", ok: false} },
  { name: "parallel all fail", template: {parallel: true, template: ["false", "false"]}, troupe: {stdout: "--- branch: branch 1 status: failed ---\nexit: 1\n--- branch: branch 2 status: failed ---\nexit: 1", ok: false}, pi: {stdout: "--- branch: branch 1 status: failed ---\nexit: 1\n--- branch: branch 2 status: failed ---\nexit: 1", ok: true}, divergence: "no-usable" },
  { name: "parallel then next step", template: [{parallel: true, template: ["printf a", "printf b"]}, "cat"], pi: {stdout: "--- branch: branch 1 status: done ---\na\n--- branch: branch 2 status: done ---\nb", ok: true} },
  { name: "parallel stdin", template: ["echo hi", {parallel: true, template: ["cat", "cat"]}], pi: {stdout: "--- branch: branch 1 status: done ---\nhi\n\n--- branch: branch 2 status: done ---\nhi\n", ok: true} },
  { name: "parallel branch stdout trailing nl", template: {parallel: true, template: ["echo a", "echo b"]}, pi: {stdout: "--- branch: branch 1 status: done ---\na\n\n--- branch: branch 2 status: done ---\nb\n", ok: true} },
  { name: "repeat items.length bare", template: {repeat: "items.length", template: "echo {index}"}, values: {items: ["a", "b"]}, pi: {stdout: "1\n", ok: true} },
  { name: "repeat {items.length}", template: {repeat: "{items.length}", template: "echo {items[index]}"}, values: {items: ["a", "b", "c"]}, pi: {stdout: "c\n", ok: true} },
  { name: "repeat parallel", template: {repeat: 2, parallel: true, template: "printf {index}"}, pi: {stdout: "--- branch: branch 1 status: done ---\n0\n--- branch: branch 2 status: done ---\n1", ok: true} },
  { name: "repeat parallel label", template: {repeat: 2, parallel: true, label: "n{index}", template: "printf {index}"}, troupe: {stdout: "--- branch: n0 status: done ---\n0\n--- branch: n1 status: done ---\n1", ok: true}, pi: {stdout: "--- branch: n{index} status: done ---\n0\n--- branch: n{index} status: done ---\n1", ok: true}, divergence: "labels" },
  { name: "repeat 0", template: ["echo in", {repeat: 0, template: "echo x"}], troupe: {stdout: "in\n", ok: true}, pi: {error: "Command template repeat must be a positive integer."}, divergence: "repeat-0" },
  { name: "repeat sequential pipes", template: ["echo s", {repeat: 2, template: "sed s/^/x/"}], pi: {stdout: "xxs\n", ok: true} },
  { name: "repeat padded", template: {repeat: 2, template: "echo {_index} {__index} {prev} {next} {repeat}"}, pi: {stdout: "01 001 0 0 2\n", ok: true} },
  { name: "repeat from defaults", template: {repeat: "items.length", template: "echo {index}"}, defaults: {items: ["a", "b"]}, troupe: {stdout: "1\n", ok: true}, pi: {error: "Command template repeat must be a positive integer or {array.length}."}, divergence: "json-defaults" },
  { name: "int 07 stays", template: "echo {n:int}", values: {n: "07"}, pi: {stdout: "07\n", ok: true} },
  { name: "int trimmed", template: "echo {n:int}", values: {n: " 7 "}, pi: {stdout: "7\n", ok: true} },
  { name: "number 1e3 rejected", template: "echo {b:number}", values: {b: "1e3"}, pi: {error: "Argument b must be a number."} },
  { name: "number 2.50 stays", template: "echo {b:number}", values: {b: "2.50"}, pi: {stdout: "2.50\n", ok: true} },
  { name: "number .5", template: "echo {b:number}", values: {b: ".5"}, pi: {stdout: ".5\n", ok: true} },
  { name: "number -3", template: "echo {b:number}", values: {b: "-3"}, pi: {stdout: "-3\n", ok: true} },
  { name: "number json 7", template: "echo {b:number}", values: {b: 7}, pi: {stdout: "7\n", ok: true} },
  { name: "int json 7.5", template: "echo {a:int}", values: {a: 7.5}, pi: {error: "Argument a must be an integer."} },
  { name: "bool yes", template: "echo {c:bool}", values: {c: "YES"}, pi: {stdout: "true\n", ok: true} },
  { name: "bool on", template: "echo {c:bool}", values: {c: "on"}, troupe: {stdout: "true\n", ok: true}, pi: {error: "Argument c must be a boolean."}, divergence: "bool-forms" },
  { name: "bool json true", template: "echo {c:bool}", values: {c: true}, pi: {stdout: "true\n", ok: true} },
  { name: "bool json 1", template: "echo {c:bool}", values: {c: 1}, troupe: {stdout: "true\n", ok: true}, pi: {error: "Argument c must be a boolean."}, divergence: "bool-forms" },
  { name: "enum ok", template: "echo {d:enum(x,y)}", values: {d: "y"}, pi: {stdout: "y\n", ok: true} },
  { name: "enum bad", template: "echo {d:enum(x,y)}", values: {d: "z"}, pi: {error: "Argument d must be one of: x, y."} },
  { name: "array json text", template: "echo {e:array}", values: {e: "[1, \"a\"]"}, pi: {stdout: "[1,\"a\"]\n", ok: true} },
  { name: "array bad", template: "echo {e:array}", values: {e: "nope"}, pi: {error: "Argument e must be an array."} },
  { name: "args int typed", template: "echo {n}", values: {n: "07"}, args: ["n:int"], pi: {stdout: "07\n", ok: true} },
  { name: "args default int", template: "echo {n}", args: ["n:int=05"], pi: {stdout: "05\n", ok: true} },
  { name: "typed inline default", template: "echo {n:int=3}", pi: {stdout: "3\n", ok: true} },
  { name: "fallback 0", template: "echo {a??none}", values: {a: "0"}, troupe: {stdout: "0\n", ok: true}, pi: {stdout: "none\n", ok: true}, divergence: "fallback" },
  { name: "fallback missing", template: "echo {a??none}", pi: {stdout: "none\n", ok: true} },
  { name: "fallback empty", template: "echo {a??none}", values: {a: ""}, pi: {stdout: "none\n", ok: true} },
  { name: "ternary off", template: "echo {a?yes:no}", values: {a: "off"}, troupe: {stdout: "no\n", ok: true}, pi: {error: "Argument a must be a boolean."}, divergence: "ternary-untyped" },
  { name: "ternary maybe", template: "echo {a?yes:no}", values: {a: "maybe"}, troupe: {stdout: "yes\n", ok: true}, pi: {error: "Argument a must be a boolean."}, divergence: "ternary-untyped" },
  { name: "ternary missing", template: "echo {a?yes:no}", pi: {stdout: "no\n", ok: true} },
  { name: "neg ternary", template: "echo {!a?yes:no}", pi: {stdout: "yes\n", ok: true} },
  { name: "literal '' kept", template: "printf [%s] '' x", troupe: {stdout: "[][x]", ok: true}, pi: {stdout: "[x]", ok: true}, divergence: "empty-literal" },
  { name: "empty placeholder dropped", template: "printf [%s] {a} x", values: {a: ""}, pi: {stdout: "[x]", ok: true} },
  { name: "{{ }} escape", template: "echo {{a}}", values: {a: "x"}, troupe: {stdout: "{a}\n", ok: true}, pi: {stdout: "{x}\n", ok: true}, divergence: "brace-escape" },
  { name: "awk braces", template: "echo '{print $1}'", troupe: {stdout: "{print $1}\n", ok: true}, pi: {error: "Missing command template value: print $1"}, divergence: "literal-braces" },
  { name: "empty braces", template: "echo {} +", pi: {stdout: "{} +\n", ok: true} },
  { name: "missing value", template: "echo {a}", pi: {error: "Missing command template value: a"} },
  { name: "index out of range", template: "echo {xs[5]}", values: {xs: ["a"]}, pi: {error: "Missing command template value: xs[5]"} },
  { name: "arith", template: "echo {index+1} {(a*2)-1} {a/2} {a%2}", values: {index: "2", a: "7"}, pi: {stdout: "3 13 3 1\n", ok: true} },
  { name: "pad", template: "echo {_(a)} {___(a+1)}", values: {a: "7"}, pi: {stdout: "07 0008\n", ok: true} },
  { name: "object value", template: "echo {o}", values: {o: {k: 1}}, troupe: {stdout: "{\"k\":1}\n", ok: true}, pi: {stdout: "[object Object]\n", ok: true}, divergence: "json-defaults" },
  { name: "array value", template: "echo {xs}", values: {xs: ["a", "b"]}, pi: {stdout: "[\"a\",\"b\"]\n", ok: true} },
  { name: "inline default", template: "echo {b=two}", pi: {stdout: "two\n", ok: true} },
  { name: "defaults beat inline", template: "echo {b=two}", defaults: {b: "d"}, pi: {stdout: "d\n", ok: true} },
  { name: "unknown type", template: "echo {n:integer}", values: {n: "1"}, troupe: {error: "Unknown argument type for n: integer. Valid types: string, path, int, number, bool, array, enum."}, pi: {error: "Missing command template value: n:integer"}, divergence: "unknown-type" },
  { name: "windows path", template: "printf [%s] C:\\tmp\\x", troupe: {stdout: "[C:\\tmp\\x]", ok: true}, pi: {stdout: "[C:tmpx]", ok: true}, divergence: "backslash" },
  { name: "escape space", template: "printf [%s] a\\ b", pi: {stdout: "[a b]", ok: true} },
  { name: "double quote escapes", template: "printf [%s] \"a\\nb\" \"q\\\"q\"", troupe: {stdout: "[a\\nb][q\"q]", ok: true}, pi: {stdout: "[anb][q\"q]", ok: true}, divergence: "backslash" },
  { name: "seq continue", template: ["false", "echo next"], pi: {stdout: "next\n", ok: true} },
  { name: "seq last failed", template: ["echo a", "false"], troupe: {stdout: "", ok: false}, pi: {stdout: "", ok: true}, divergence: "last-step" },
  { name: "seq branch", template: [{failure: "branch", template: "false"}, "echo next"], pi: {stdout: "", ok: false} },
  { name: "seq root one step", template: ["false"], pi: {stdout: "", ok: false} },
  { name: "nested branch", template: [{failure: "branch", template: ["echo a", "false", "echo b"]}, "echo after"], pi: {stdout: "", ok: false} },
  { name: "timeout leaf", template: {timeout: 300, template: "sleep 5"}, pi: {stdout: "", ok: false} },
  { name: "timeout branch", template: {parallel: true, template: ["printf a", {timeout: 300, template: "sleep 5"}]}, troupe: {stdout: "--- branch: branch 1 status: done ---\na\n--- branch: branch 2 status: timeout ---\nexit: 124", ok: true}, pi: {stdout: "--- branch: branch 1 status: done ---\na\n--- branch: branch 2 status: timeout ---\nexit: 1", ok: true}, divergence: "timeout-code" },
  { name: "timeout placeholder bad", template: {timeout: "{t}", template: "echo x"}, values: {t: "abc"}, pi: {error: "Command template timeout must be a non-negative number."} },
  { name: "delay", template: {delay: 10, template: "echo d"}, pi: {stdout: "d\n", ok: true} },
  { name: "empty parallel", template: {parallel: true, template: []}, troupe: {error: "Tool template produced no command steps."}, pi: {error: "\nTool template produced no command steps."}, divergence: "message" },
  { name: "unknown failure", template: {failure: "boom", template: "echo x"}, troupe: {error: "Unknown failure scope: boom. Valid scopes: continue, branch, root."}, pi: {error: "Command template failure must be one of: continue, branch, root."}, divergence: "message" },
  { name: "stdin passthrough on skip", template: ["echo in", {when: false, template: "echo x"}, "cat"], pi: {stdout: "in\n", ok: true} },
  { name: "root in parallel branch", template: {parallel: true, template: ["printf a", {failure: "root", template: "sh -c 'echo boom >&2; exit 5'"}]}, pi: {stdout: "", ok: false} },
  { name: "root in sequence", template: [{failure: "root", template: "sh -c 'exit 6'"}, "echo never"], pi: {stdout: "", ok: false} },
  { name: "root on parallel node", template: ["echo in", {parallel: true, failure: "root", template: ["printf a", "false"]}, "echo after"], pi: {stdout: "", ok: false} },
  { name: "recover gets failed stdout", template: {retry: 2, recover: "sh -c 'cat > @DIR@/rec'", template: "sh -c 'if [ -f @DIR@/rec ]; then cat @DIR@/rec; else echo first; exit 1; fi'"}, pi: {stdout: "first\n", ok: true} },
  { name: "recover fails stops", template: ["echo x", {retry: 3, recover: "sh -c 'exit 9'", template: "false"}, "echo after"], pi: {stdout: "after\n", ok: true} },
  { name: "timeout on sequence node", template: {timeout: 300, template: ["sleep 1", "echo done"]}, troupe: {stdout: "", ok: false}, pi: {stdout: "done\n", ok: true}, divergence: "node-timeout" },
  { name: "nested parallel labels", template: {parallel: true, template: [{label: "outer", parallel: true, template: ["printf a", "printf b"]}, "printf c"]}, pi: {stdout: "--- branch: outer status: done ---\n--- branch: branch 1 status: done ---\na\n--- branch: branch 2 status: done ---\nb\n--- branch: branch 2 status: done ---\nc", ok: true} },
  { name: "sequence branch in parallel", template: {parallel: true, template: [["echo a", "sed s/a/A/"], {label: "s2", template: ["false", "echo z"]}]}, troupe: {stdout: "--- branch: branch 1 status: done ---\nA\n\n--- branch: s2 status: done ---\nz\n", ok: true}, pi: {error: "Tool template produced an empty command."}, divergence: "nested-arrays" },
  { name: "continue failure empty stdin", template: ["echo x", "false", "cat", "echo end"], pi: {stdout: "end\n", ok: true} },
  { name: "failure on sequence inherited", template: {failure: "branch", template: ["echo a", "false", "echo c"]}, pi: {stdout: "", ok: false} },
  { name: "failure branch seq in seq", template: [{failure: "branch", template: ["false"]}, "echo after"], pi: {stdout: "", ok: false} },
  { name: "when on leaf with defaults flag", template: {defaults: {flag: "yes"}, template: [{when: "flag", template: "echo ran"}]}, pi: {stdout: "ran\n", ok: true} },
  { name: "when negated with default", template: [{when: "!flag", template: "echo ran"}], defaults: {flag: "no"}, pi: {stdout: "ran\n", ok: true} },
  { name: "ternary typed ternary yes", template: "echo {a?on:off}", values: {a: "yes"}, pi: {stdout: "on\n", ok: true} },
  { name: "fallback typed int", template: "echo {n:int??x}", values: {n: "07"}, troupe: {stdout: "{n:int??x}\n", ok: true}, pi: {error: "Missing command template value: n:int??x"}, divergence: "literal-braces" },
  { name: "index by name", template: "echo {xs[i]}", values: {xs: ["a", "b"], i: "1"}, pi: {stdout: "b\n", ok: true} },
  { name: "length placeholder", template: "echo {xs.length}", values: {xs: ["a", "b"]}, troupe: {stdout: "2\n", ok: true}, pi: {error: "Missing command template value: xs.length"}, divergence: "length-placeholder" },
  { name: "value uses index of array default", template: "echo {a}", values: {a: "{xs[1]}", xs: ["p", "q"]}, pi: {stdout: "q\n", ok: true} },
  { name: "value with typed placeholder", template: "echo {a}", values: {a: "n={n:int}", n: "5"}, pi: {stdout: "n=5\n", ok: true} },
  { name: "repeat in parallel with failure branch", template: {repeat: 2, parallel: true, failure: "branch", template: "sh -c 'exit {index}'"}, troupe: {stdout: "--- branch: branch 1 status: done ---\n\n--- branch: branch 2 status: failed ---\nexit: 1", ok: false}, pi: {stdout: "--- branch: branch 1 status: done ---\n\n--- branch: branch 2 status: failed ---\nexit: 1", ok: true}, divergence: "repeat-failure" },
  { name: "repeat items.length missing", template: {repeat: "items.length", template: "echo {index}"}, troupe: {error: "Missing command template value: items"}, pi: {error: "Command template repeat could not be resolved."}, divergence: "message" },
  { name: "repeat bad", template: {repeat: "abc", template: "echo x"}, troupe: {error: "Command template repeat must be a non-negative integer or {array.length}."}, pi: {error: "Command template repeat must be a positive integer or {array.length}."}, divergence: "message" },
  { name: "timeout zero", template: {timeout: 0, template: "echo t0"}, pi: {stdout: "t0\n", ok: true} },
  { name: "timeout empty placeholder", template: {timeout: "{t}", template: "echo t"}, values: {t: ""}, pi: {stdout: "t\n", ok: true} },
  { name: "retry empty placeholder", template: {retry: "{r}", template: "echo r"}, values: {r: ""}, pi: {stdout: "r\n", ok: true} },
  { name: "retry string 2", template: {retry: "2", template: "echo r"}, pi: {stdout: "r\n", ok: true} },
  { name: "delay bad", template: {delay: "-5", template: "echo x"}, pi: {error: "Command template delay must be a non-negative number."} },
  { name: "prev next in repeat", template: {repeat: 3, parallel: true, template: "printf {prev}{next}{_repeat}"}, pi: {stdout: "--- branch: branch 1 status: done ---\n2103\n--- branch: branch 2 status: done ---\n0203\n--- branch: branch 3 status: done ---\n1003", ok: true} },
  { name: "child defaults override parent", template: {defaults: {a: "p"}, template: [{defaults: {a: "c"}, template: "echo {a}"}, "echo {a}"]}, pi: {stdout: "p\n", ok: true} },
  { name: "child args replace", template: {args: ["n:int"], template: [{args: ["n:string"], template: "echo {n}"}]}, values: {n: "x"}, pi: {stdout: "x\n", ok: true} },
  { name: "deep derived defaults", template: "echo {e}", defaults: {a: "1", b: "{a}", c: "{b}", d: "{c}", e: "{d}"}, pi: {stdout: "1\n", ok: true} },
  { name: "derived too deep", template: "echo {g}", defaults: {a: "1", b: "{a}", c: "{b}", d: "{c}", e: "{d}", f: "{e}", g: "{f}"}, pi: {error: "Command template value recursion exceeded: a"} },
  { name: "arith missing var", template: "echo {n+1}", troupe: {error: "Missing command template value: n"}, pi: {error: "Invalid command template expression variable: n"}, divergence: "message" },
  { name: "pad missing", template: "echo {_(n)}", values: {n: "x"}, troupe: {error: "Argument n must be an integer."}, pi: {error: "Invalid command template expression variable: n"}, divergence: "message" },
  { name: "trailing backslash", template: "printf [%s] a\\", pi: {stdout: "[a\\]", ok: true} },
  { name: "dollar and semicolon data", template: "printf [%s] {a}", values: {a: "$(id); echo"}, pi: {stdout: "[$(id); echo]", ok: true} },
  { name: "child typed array default references parent (lens-swarm shape)", template: { defaults: { lenses: ["a", "b"] }, template: { args: ["lenses:array"], defaults: { lenses: "{lenses}" }, parallel: true, repeat: "{lenses.length}", template: "printf {lenses[index]}" } }, troupe: { stdout: "--- branch: branch 1 status: done ---\na\n--- branch: branch 2 status: done ---\nb", ok: true }, pi: { error: "Missing command template value: lenses[index]" }, divergence: "json-defaults" },
  { name: "derived typed default", template: "echo {count}", args: ["count:int"], defaults: { count: "{n}", n: "3" }, pi: { stdout: "3\n", ok: true } },
  { name: "bare when name is a bool even where a placeholder types it", template: { when: "flag", template: "echo {flag:string}" }, values: { flag: "yes" }, pi: { stdout: "true\n", ok: true } },
]

describe("declared arguments (JSON Schema) as pi-actors 0.17 derives them", () => {
  const schemaOf = (template: unknown, args: ReadonlyArray<string> = [], defaults: Record<string, unknown> = {}) =>
    Effect.gen(function* () {
      const graph = yield* CommandGraph
      const res = graph.argsSchema(template, args, defaults)
      if (Either.isLeft(res)) throw new Error(res.left.message)
      return res.right
    }).pipe(Effect.provide(graphLayer))

  it.effect("a bare when name (and its negation) declares name:bool=false", () =>
    Effect.gen(function* () {
      const s = yield* schemaOf([{ when: "dry", template: "echo a" }, { when: "!quiet", template: "echo b" }])
      expect(s.properties["dry"]).toMatchObject({ type: "boolean", default: "false" })
      expect(s.properties["quiet"]).toMatchObject({ type: "boolean", default: "false" })
      expect(s.required).toEqual([])
    })
  )

  it.effect("a when placeholder reads the name like any placeholder", () =>
    Effect.gen(function* () {
      const s = yield* schemaOf({ when: "{flag}", template: "echo a" })
      expect(s.properties["flag"]).toMatchObject({ type: "string" })
      expect(s.required).toEqual(["flag"])
    })
  )

  it.effect("a default never makes a schema property; derived values stay values", () =>
    Effect.gen(function* () {
      const s = yield* schemaOf("ls {directory} {count:int}", ["count:int=3"], {
        directory: "{repo}/{docs_dir}",
        repo: ".",
        docs_dir: "docs",
        unused: "x"
      })
      expect(Object.keys(s.properties).sort()).toEqual(["count", "directory"])
      expect(s.required).toEqual([])
    })
  )

  it.effect("a bare when value is validated as a bool", () =>
    Effect.gen(function* () {
      const graph = yield* CommandGraph
      const res = yield* graph.plan({ when: "dry", template: "echo a" }, { cwd: "/tmp", values: { dry: "maybe" } }).pipe(Effect.either)
      expect(Either.isLeft(res) ? res.left.message : "planned").toBe("Argument dry must be a boolean.")
    }).pipe(Effect.provide(graphLayer))
  )
})

describe("import-bound values", () => {
  it.effect("a bound value {x} with no x in the caller is missing inside, not a self-reference", () =>
    Effect.gen(function* () {
      const graph = yield* CommandGraph
      const node = { values: { model: "{model}" }, template: "echo {model}" }
      const missing = yield* graph.plan(node, { cwd: "/tmp" }).pipe(Effect.either)
      expect(Either.isLeft(missing) ? missing.left.message : "planned").toBe("Missing command template value: model")
      const withDefault = yield* graph.plan({ ...node, defaults: { model: "gpt" } }, { cwd: "/tmp" })
      expect(withDefault._tag === "Leaf" ? withDefault.argv.slice(1) : []).toEqual(["gpt"])
      const given = yield* graph.plan(node, { cwd: "/tmp", values: { model: "o3" } })
      expect(given._tag === "Leaf" ? given.argv.slice(1) : []).toEqual(["o3"])
    }).pipe(Effect.provide(graphLayer))
  )
})

const expand = <A>(v: A, dir: string): A =>
  JSON.parse(JSON.stringify(v).replaceAll("@DIR@", dir).replaceAll("@E1000@", "e".repeat(1000))) as A

describe("pi-actors 0.17.1 agreement (reference run)", () => {
  it("covers when, defaults, retry, parallel joins, repeat and typed values", () => {
    expect(rows.length).toBeGreaterThanOrEqual(150)
    for (const r of rows) expect(r.troupe === undefined).toBe(r.divergence === undefined)
  })

  for (const row of rows) {
    const label = row.divergence === undefined ? `${row.name} (as pi-actors)` : `${row.name} (divergence: ${row.divergence})`
    it.live(label, () =>
      Effect.gen(function* () {
        const r = expand(row, scratch("troupe-pi017-"))
        const want = r.troupe ?? r.pi
        const opts = { cwd: "/tmp", values: r.values, defaults: r.defaults, args: r.args }
        if ("error" in want) {
          const graph = yield* CommandGraph
          const res = yield* graph.plan(r.template, opts).pipe(Effect.either)
          expect(Either.isLeft(res) ? res.left.message : "planned").toBe(want.error)
          return
        }
        const { result, stdout } = yield* runTemplate(r.template, opts)
        expect(stdout).toBe(want.stdout)
        expect(result.code === 0).toBe(want.ok)
      }).pipe(Effect.provide(graphLayer))
    )
  }
})
