"""Reads what a sanitizer or libFuzzer printed and names the defect class.

report(text) -> None when there is no report, else a dict:
  kind   SEGV, heap-buffer-overflow, allocation-size-too-big, out-of-memory,
         leak, timeout, hang, ubsan:<what>, ...
  top    the first frame that is not libc, the sanitizer runtime or libFuzzer:
         a function name, or module+offset for a stripped library
  api    the first frame with a function name that is not libc/sanitizer
         (with Debian's stripped libraries: the exported library function)
  where  the first frame in vmwait's own code (file:line), if any
  cls    the class: "<kind>:<api>" (what tests/fuzz/regress/KNOWN lists)

As a command: classify.py FILE... prints "cls<TAB>top<TAB>where" per file of
saved sanitizer output.
"""
import re
import sys

FRAME = re.compile(r"^\s*#(\d+) 0x[0-9a-f]+ (?:in (\S+)(?: (\S+))?)?\s*(?:\((\S+?)\+(0x[0-9a-f]+)\))?")
SKIP_FUNCS = re.compile(
    r"^(__interceptor_|__asan|__sanitizer|__ubsan|__lsan|__libc_|__GI_|_IO_|"
    r"__vfscanf|__isoc99_|__strdup|__memcpy|__memmove|__memset|__strlen|__strcmp|"
    r"fuzzer::|LLVMFuzzer|main$|_start$|malloc$|calloc$|realloc$|free$|strdup$|"
    r"strndup$|memcpy$|memmove$|memset$|strlen$|strnlen$|strcmp$|strncmp$|strcpy$|"
    r"strncpy$|strchr$|strrchr$|strstr$|strtok|sscanf$|vsscanf$|printf|fprintf|"
    r"vfprintf|snprintf|vsnprintf|asprintf|vasprintf|read$|pread|fread|fgets|"
    r"abort$|raise$|__pthread|pthread_kill|operator new|posix_memalign|"
    r"aligned_alloc|memalign|qsort|__qsort|msort|bsearch)")
SKIP_MODULES = re.compile(r"(libc\.so|ld-linux|libasan|libubsan|libclang_rt|libstdc\+\+|"
                          r"libpthread|libm\.so|libzstd|libz\.so)")
OWN = re.compile(r"/(analyzer|common|recorder)/[^/ ]+\.c:\d+")


def _kind(text):
    if re.search(r"ERROR: AddressSanitizer: (requested allocation size|allocator is out of memory)"
                 r"|ERROR: libFuzzer: out-of-memory \(malloc", text):
        return "alloc-too-big"
    if re.search(r"ERROR: AddressSanitizer: calloc parameters overflow", text):
        return "calloc-overflow"
    m = re.search(r"ERROR: AddressSanitizer: ([\w-]+)(?: on unknown address (0x[0-9a-f]+))?", text)
    if m:
        k = m.group(1)
        if k == "SEGV" and m.group(2):
            k = "SEGV" if int(m.group(2), 16) >= 0x1000 else "SEGV-null"
        if k in ("heap-buffer-overflow", "stack-buffer-overflow", "global-buffer-overflow",
                 "heap-use-after-free", "dynamic-stack-buffer-overflow"):
            rw = re.search(r"^(READ|WRITE) of size", text, re.M)
            if rw:
                k += "-" + rw.group(1).lower()
        return k
    if "ERROR: LeakSanitizer" in text:
        return "leak"
    if "ERROR: libFuzzer: out-of-memory" in text:
        return "out-of-memory"
    if "ERROR: libFuzzer: timeout" in text:
        return "timeout"
    m = re.search(r"runtime error: ([a-z -]+?)(?: of| at|:|\s\d|$)", text, re.M)
    if m:
        return "ubsan:" + m.group(1).strip().replace(" ", "-")
    m = re.search(r"ERROR: (\w+Sanitizer): ([\w-]+)", text)
    if m:
        return m.group(2)
    if "ERROR: libFuzzer: deadly signal" in text:
        return "signal"
    return None


def _frames(text):
    """Frames of the first stack in the report (leaks: the first leak's)."""
    out = []
    started = False
    for line in text.splitlines():
        m = FRAME.match(line)
        if not m:
            if started and out:
                break
            continue
        if m.group(1) == "0" and started and out:
            break
        started = True
        func, loc, mod, off = m.group(2), m.group(3), m.group(4), m.group(5)
        if not mod and loc and loc.startswith("("):
            mod = loc.strip("()").split("+")[0]
            loc = None
        out.append((func, loc or "", mod or "", off or ""))
    return out


def _skipped(func, loc, mod):
    if func and SKIP_FUNCS.match(func):
        return True
    if mod and SKIP_MODULES.search(mod):
        return True
    if loc and re.search(r"(stdio-common|string/|libio/|stdlib/|sysdeps/|malloc/)", loc):
        return True
    return False


def report(text):
    kind = _kind(text)
    if not kind:
        return None
    top = api = where = None
    for func, loc, mod, off in _frames(text):
        if _skipped(func, loc, mod):
            continue
        name = func or "%s+%s" % (mod.rsplit("/", 1)[-1], off)
        if top is None:
            top = name
        if api is None and func:
            api = func
        if where is None and OWN.search(loc or ""):
            where = "%s %s" % (func, OWN.search(loc).group(0).lstrip("/"))
        if top and api and where:
            break
    return {"kind": kind, "top": top or "?", "api": api or top or "?",
            "where": where or "-", "cls": "%s:%s" % (kind, api or top or "?")}


def main(argv):
    for path in argv[1:]:
        with open(path, errors="replace") as f:
            r = report(f.read())
        if r:
            print("%s\t%s\t%s" % (r["cls"], r["top"], r["where"]))
        else:
            print("none\t-\t-")


if __name__ == "__main__":
    main(sys.argv)
