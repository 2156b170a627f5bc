"""Checks README.md against the repository:

    check_readme.py host URL [README]   prints the C block of "## A C host in 30 lines" with its
                                        ws:// URL replaced by URL, to be compiled and run
    check_readme.py links [README]      every link stays inside the repository: no http(s)://
                                        address outside code, every Markdown link target and every `path`
                                        naming a top-level entry of the repository exists, and
                                        none climbs out of it (../)

Prints each offending link and exits 1 if there is one.
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def host(url, text):
    section = text.split("## A C host in 30 lines", 1)[1]
    code = re.search(r"```c\n(.*?)```", section, re.S).group(1)
    return re.sub(r'"ws://[^"]*"', '"%s"' % url, code, count=1)


def inside(target):
    path = os.path.abspath(os.path.join(ROOT, target))
    return path == ROOT or path.startswith(ROOT + os.sep)


def bad_links(text):
    bad = []
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    # Example addresses in code (a proxy URL, an errMsg) are not links; every other address is.
    for address in re.findall(r"https?://[^\s)>`\"]+", re.sub(r"`[^`]*`", "", prose)):
        bad.append("%s: an address outside the repository" % address)
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", prose)]
    top = set(os.listdir(ROOT))
    for span in re.findall(r"`([^`\n]+)`", prose):
        word = span.split()[0]
        if word.startswith("../") or ("/" in word and word.split("/")[0] in top):
            targets.append(word)
    for target in targets:
        if not target or re.match(r"https?://", target):
            continue
        if not inside(target):
            bad.append("%s: outside the repository" % target)
        elif not os.path.exists(os.path.join(ROOT, target)):
            bad.append("%s: no such file in the repository" % target)
    return bad


def main():
    command = sys.argv[1]
    if command == "host":
        readme = sys.argv[3] if len(sys.argv) > 3 else os.path.join(ROOT, "README.md")
        sys.stdout.write(host(sys.argv[2], open(readme, encoding="utf-8").read()))
        return 0
    readme = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "README.md")
    bad = bad_links(open(readme, encoding="utf-8").read())
    for line in bad:
        print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
