"""Checks the hygiene of the public header (default include/libws.h):

    check_header.py names [HEADER]      every name the header declares at file scope (macros,
                                        struct tags, typedefs, functions) starts with ws_ or WS_,
                                        apart from the include guard
    check_header.py comments [HEADER]   every #define (but the include guard) has its own comment
                                        on the line right above it

Prints each offending line and exits 1 if there is one. Written for the C cbindgen emits (one
declaration per line or one parenthesised parameter list), which is all the header holds.
"""
import re
import sys

ALLOWED = re.compile(r"^(ws_|WS_)")
# Names a declaration may use without declaring them: C keywords and the standard types.
KEYWORDS = {
    "bool", "char", "const", "double", "enum", "extern", "float", "inline", "int", "long", "short",
    "signed", "size_t", "static", "struct", "typedef", "union", "unsigned", "void", "volatile",
}
STANDARD_TYPE = re.compile(r"^u?int(8|16|32|64|ptr)_t$")


def strip_comments(text):
    """The text with comments blanked out, keeping the line structure."""
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def include_guard(lines):
    for line in lines:
        m = re.match(r"\s*#\s*ifndef\s+(\w+)", line)
        if m:
            return m.group(1)
    return None


def c_code(lines):
    """The C text outside preprocessor lines and the extern "C" wrapper."""
    kept, skip = [], 0
    for line in lines:
        s = line.strip()
        if s.startswith("#"):
            if re.match(r"#\s*ifdef\s+__cplusplus", s):
                skip += 1
            elif skip and s.startswith("#endif"):
                skip -= 1
            continue
        if not skip:
            kept.append(line)
    return "\n".join(kept)


def declarations(code):
    """The file-scope declarations: token lists split at the semicolons outside braces."""
    decl, brace = [], 0
    for tok in re.findall(r"[A-Za-z_]\w*|[{}()*;]", code):
        brace += {"{": 1, "}": -1}.get(tok, 0)
        if tok == ";" and brace == 0:
            yield decl
            decl = []
        else:
            decl.append(tok)
    if decl:
        yield decl


def declared_names(code):
    """(name, declaration) for each name declared at file scope: tokens outside braces, and
    outside parentheses except a function pointer typedef's `(*name)`; an enum's constants."""
    out = []
    for tokens in declarations(code):
        brace = paren = 0
        pointer_paren = False
        is_enum = tokens[:1] == ["enum"] or tokens[:2] == ["typedef", "enum"]
        shown = " ".join(t for t in tokens if t != ";")[:100]
        for i, tok in enumerate(tokens):
            if tok == "{":
                brace += 1
            elif tok == "}":
                brace -= 1
            elif tok == "(":
                paren += 1
                pointer_paren = paren == 1 and i + 1 < len(tokens) and tokens[i + 1] == "*"
            elif tok == ")":
                paren -= 1
            elif tok != "*" and (brace == 0 or is_enum) and (paren == 0 or (paren == 1 and pointer_paren)):
                if tok not in KEYWORDS and not STANDARD_TYPE.match(tok):
                    out.append((tok, shown))
    return out


def check_names(text):
    lines = text.splitlines()
    guard = include_guard(lines)
    bad = []
    for line in lines:
        m = re.match(r"\s*#\s*define\s+(\w+)", line)
        if m and m.group(1) != guard and not ALLOWED.match(m.group(1)):
            bad.append(f"macro {m.group(1)}: {line.strip()}")
    for name, decl in declared_names(c_code(strip_comments(text).splitlines())):
        if not ALLOWED.match(name):
            bad.append(f"name {name}: {decl}")
    return bad


def check_comments(text):
    lines = text.splitlines()
    guard = include_guard(lines)
    bad = []
    for i, line in enumerate(lines):
        m = re.match(r"\s*#\s*define\s+(\w+)", line)
        if not m or m.group(1) == guard:
            continue
        above = lines[i - 1].strip() if i > 0 else ""
        if not (above.startswith("//") or above.endswith("*/")):
            bad.append(f"#define {m.group(1)} has no comment of its own (line {i + 1})")
    return bad


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("names", "comments"):
        sys.exit(__doc__)
    path = sys.argv[2] if len(sys.argv) > 2 else "include/libws.h"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    bad = check_names(text) if sys.argv[1] == "names" else check_comments(text)
    for b in bad:
        print(f"{path}: {b}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
