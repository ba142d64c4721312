#!/usr/bin/env python3
"""Re-runs the README's usage section against the herald binary (see readme-check.sh).

1. The session: the first fenced block after the heading "### A first session, with
   output" holds `$ COMMAND` lines, each followed by the exact lines it prints on stdout.
   Every command runs with bash in a fresh scratch folder (a `cd DIR` line changes the
   folder the following commands run in), `herald` on PATH is the binary under test,
   stdin is empty and no HERALD_* variable of the caller's environment is passed on.
   A command fails the check when it exits non-zero (unless its line ends with
   `# exit N`, then it must exit N) or when its stdout differs from the README's lines.
   Output is compared line by line with two rules, and nothing else is normalised:
     - `…` in a README line stands for one or more characters within that line (used for
       what legitimately varies: timestamps, ids, tokens, temporary paths);
     - trailing spaces are ignored (Markdown editors strip them).
2. The command list: every `herald ...` line of the first fenced block after "## Usage"
   must name subcommands that exist (each word is looked up in the parent's `--help`
   "Commands:" list; `a|b|c` means each of them) and every `--flag` or `-f` on the line,
   and every `--flag` its `# comment` names, must appear in that subcommand's `--help`.
   Nothing in that list is executed.
`--self-test` checks the comparison rules themselves (readme-check.sh runs it first).
Exits 1 naming every command that failed, with a diff; 0 when all match.
"""

import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

SESSION_HEADING = "### A first session, with output"
USAGE_HEADING = "## Usage"
EXIT_MARK = re.compile(r"\s#\s*exit\s+(\d+)\s*$")
PLACEHOLDER = "…"
COMMAND_TIMEOUT_SECONDS = 120


def fenced_block_after(lines, heading):
    """(first line number, lines) of the first fenced block after `heading`."""
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == heading)
    except StopIteration:
        sys.exit(f"readme-check: README has no heading {heading!r}")
    i = start + 1
    while i < len(lines) and not lines[i].startswith("```"):
        if re.match(r"#{1,6} ", lines[i]):
            sys.exit(f"readme-check: no fenced block under {heading!r}")
        i += 1
    block = []
    j = i + 1
    while j < len(lines) and not lines[j].startswith("```"):
        block.append(lines[j])
        j += 1
    if j == len(lines):
        sys.exit(f"readme-check: the block under {heading!r} (line {i + 1}) is never closed")
    return i + 2, block


def parse_session(first_line, block):
    """[(README line, command, expected exit code, expected lines)]"""
    steps = []
    for n, line in enumerate(block, start=first_line):
        if line.startswith("$ "):
            command = line[2:].strip()
            code = 0
            mark = EXIT_MARK.search(command)
            if mark:
                code = int(mark.group(1))
            steps.append((n, command, code, []))
        elif steps:
            steps[-1][3].append(line)
        elif line.strip():
            sys.exit(f"readme-check: README line {n}: output before the first `$ ` command")
    return steps


def line_matches(expected, actual):
    expected, actual = expected.rstrip(), actual.rstrip()
    if PLACEHOLDER not in expected:
        return expected == actual
    pattern = ".+".join(re.escape(part) for part in expected.split(PLACEHOLDER))
    return re.fullmatch(pattern, actual) is not None


def output_matches(expected, actual):
    return len(expected) == len(actual) and all(map(line_matches, expected, actual))


def clean_env(bin_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["NO_COLOR"] = "1"
    env.pop("RUST_LOG", None)
    return env


def run_session(steps, herald, scratch):
    bin_dir = os.path.join(scratch, "bin")
    os.makedirs(bin_dir)
    os.symlink(herald, os.path.join(bin_dir, "herald"))
    cwd = os.path.join(scratch, "work")
    os.makedirs(cwd)
    env = clean_env(bin_dir)
    failures = []
    for n, command, code, expected in steps:
        words = shlex.split(command, comments=True)
        if words and words[0] == "cd":
            if len(words) != 2:
                failures.append(f"README line {n}: `{command}`: cd takes one folder")
                continue
            target = os.path.normpath(os.path.join(cwd, words[1]))
            if not os.path.isdir(target):
                failures.append(f"README line {n}: `{command}`: no folder {target}")
                continue
            cwd = target
            if any(line.strip() for line in expected):
                failures.append(f"README line {n}: `{command}` prints nothing")
            continue
        try:
            run = subprocess.run(
                ["bash", "-o", "pipefail", "-c", command],
                cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            failures.append(f"README line {n}: `{command}`: still running after "
                            f"{COMMAND_TIMEOUT_SECONDS} s (a README command must finish)")
            continue
        actual = run.stdout.splitlines()
        problems = []
        if run.returncode != code:
            problems.append(f"exit code {run.returncode}, README expects {code}")
        if not output_matches(expected, actual):
            diff = difflib.unified_diff(
                expected, actual, "README", "actual output", lineterm="", n=2)
            problems.append("stdout differs (`…` in the README matches any text):\n"
                            + "\n".join("    " + d for d in diff))
        if problems:
            report = f"README line {n}: `{command}`: " + "; ".join(problems)
            if run.stderr.strip():
                tail = run.stderr.strip().splitlines()[-5:]
                report += "\n  stderr (last lines):\n" + "\n".join("    " + t for t in tail)
            failures.append(report)
    return failures


def help_text(herald, path, cache):
    key = tuple(path)
    if key not in cache:
        run = subprocess.run([herald, *path, "--help"], capture_output=True, text=True,
                             env=clean_env(os.path.dirname(herald)), stdin=subprocess.DEVNULL)
        cache[key] = run.stdout if run.returncode == 0 else None
    return cache[key]


def subcommands(help_out):
    names, inside = set(), False
    for line in help_out.splitlines():
        if line.strip() == "Commands:":
            inside = True
        elif inside and line.startswith("  ") and line.strip():
            names.add(line.split()[0])
        elif inside and line.strip() and not line.startswith(" "):
            inside = False
    return names


def split_comment(line):
    """(command, comment) of a shell line: the comment starts at a `#` after a space,
    outside quotes."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i + 1:]
    return line, ""


def check_command_list(first_line, block, herald):
    failures, cache = [], {}
    for n, line in enumerate(block, start=first_line):
        if not line.startswith("herald "):
            continue
        command, comment = split_comment(line)
        words = shlex.split(command)[1:]
        # Options a comment names ("(--explain EMAIL)") are the command's options too.
        mentioned = re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", comment)
        # Each alternative of `a|b|c` is a command of its own.
        alternatives = [[]]
        for word in words:
            options = word.split("|") if "|" in word and not word.startswith("-") else [word]
            alternatives = [a + [o] for a in alternatives for o in options]
        for words in alternatives:
            path, flags, unknown = [], [], None
            for word in words:
                if word.startswith("-"):
                    flags.append(word.split("=", 1)[0])
                    continue
                if unknown is not None:
                    continue
                parent = help_text(herald, path, cache)
                subs = subcommands(parent) if parent is not None else set()
                if not subs:
                    continue  # a positional argument of the command
                if word in subs:
                    path.append(word)
                else:
                    unknown = word
            flags += mentioned
            shown = " ".join(["herald", *path])
            out = help_text(herald, path, cache)
            if out is None:
                failures.append(f"README line {n}: `{shown} --help` fails")
                continue
            if unknown is not None:
                failures.append(f"README line {n}: `{shown}` has no subcommand {unknown!r}")
                continue
            if subcommands(out):
                failures.append(f"README line {n}: `{shown}` needs a subcommand "
                                f"({', '.join(sorted(subcommands(out)))})")
                continue
            for flag in flags:
                if not re.search(r"(?<![\w-])" + re.escape(flag) + r"(?![\w-])", out):
                    failures.append(f"README line {n}: `{shown}` has no option {flag} "
                                    f"(not in `{shown} --help`)")
    return failures


def self_test():
    """The comparison rules themselves, so a loosened rule cannot pass unnoticed."""
    assert line_matches("sent              2", "sent              2")
    assert not line_matches("sent              2", "sent              3")
    assert line_matches("sent 2   ", "sent 2"), "trailing spaces are ignored"
    assert not line_matches("  sent 2", "sent 2"), "leading spaces count"
    assert line_matches("Date: …", "Date: Sat, 05 Dec 2026 00:28:40 +0000")
    assert not line_matches("<…@x>", "<@x>"), "… stands for at least one character"
    assert not line_matches("Date: …", "Subject: x"), "text around … must match"
    assert not line_matches("a…b", "a1b2"), "the whole line must match"
    assert line_matches("a (…) b.c", "a (x) b.c") and not line_matches("a (…) b.c", "a (x) bxc")
    assert output_matches(["a", "…"], ["a", "b"])
    assert not output_matches(["a", "…"], ["a", "b", "c"]), "… never spans lines"
    assert not output_matches(["a"], ["a", ""]), "an extra line is a difference"
    steps = parse_session(1, ["$ herald x 2>&1   # exit 1", "out", "$ herald y # why", "$ z"])
    assert [(c, code, out) for _, c, code, out in steps] == [
        ("herald x 2>&1   # exit 1", 1, ["out"]), ("herald y # why", 0, []), ("z", 0, [])]
    assert split_comment('herald a "b # c" # d --e') == ('herald a "b # c" ', " d --e")
    assert split_comment("herald a#b") == ("herald a#b", "")
    help_out = "Usage: herald <COMMAND>\n\nCommands:\n  init  Scaffold\n  help  Print\n\nOptions:\n  -h"
    assert subcommands(help_out) == {"init", "help"}


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return
    if len(sys.argv) != 3:
        sys.exit("usage: readme-check.py README.md HERALD_BINARY")
    readme, herald = sys.argv[1], os.path.abspath(sys.argv[2])
    with open(readme, encoding="utf-8") as f:
        lines = f.read().splitlines()
    started = time.monotonic()

    usage_first, usage = fenced_block_after(lines, USAGE_HEADING)
    failures = check_command_list(usage_first, usage, herald)
    listed = sum(1 for line in usage if line.startswith("herald "))

    session_first, session = fenced_block_after(lines, SESSION_HEADING)
    steps = parse_session(session_first, session)
    if not steps:
        sys.exit(f"readme-check: no `$ ` commands under {SESSION_HEADING!r}")
    with tempfile.TemporaryDirectory(prefix="herald-readme-") as scratch:
        failures += run_session(steps, herald, scratch)

    took = time.monotonic() - started
    if failures:
        print(f"readme-check: {len(failures)} problem(s) in {readme}:", file=sys.stderr)
        for failure in failures:
            print("- " + failure, file=sys.stderr)
        sys.exit(1)
    print(f"readme-check: {listed} listed commands parse, {len(steps)} session commands "
          f"print what {readme} shows ({took:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
