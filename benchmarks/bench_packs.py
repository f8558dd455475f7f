"""What a company's pack costs in memory (docs/policy-packs.md, "What a pack costs").

    python benchmarks/bench_packs.py [N]

Loads the statutes' rule book, then N pack rule books of globex (one company rule, its own
approval chains and SLAs) and N of a pack of configuration only (acme's files without its rule),
and reports the resident memory each adds (the C engine included, which tracemalloc cannot see).
Tenants without a pack add nothing: they share the statutes' rule book."""
from __future__ import annotations

import gc
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service import PROJECT_ROOT  # noqa: E402
from service.decide.packs import load_pack  # noqa: E402
from service.decide.rulebook import load_rulebook  # noqa: E402


def rss_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() // 1024


def measure(base, tenant: str, n: int, kept: list) -> tuple[float, float]:
    """Kept alive until the end, so no pack reuses the memory another freed."""
    gc.collect()
    before, started = rss_kb(), time.perf_counter()
    books = [load_pack(base, tenant) for _ in range(n)]
    gc.collect()
    kept += books
    return (rss_kb() - before) / n, (time.perf_counter() - started) / n


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules"
        shutil.copytree(PROJECT_ROOT / "rules", rules)
        shutil.rmtree(rules / "companies" / "acme" / "rules")  # acme as a pack of configuration only
        before = rss_kb()
        base = load_rulebook(rules)
        print(f"statutes' rule book: {rss_kb() - before} KB resident ({len(base.rules)} rule versions)")
        kept: list = []
        for tenant, what in (("acme", "chains and SLAs only"), ("globex", "1 company rule + chains and SLAs")):
            kb, seconds = measure(base, tenant, n, kept)
            print(f"pack {tenant} ({what}): {kb:.0f} KB resident per pack, loaded in {seconds * 1000:.0f} ms "
                  f"(mean of {n})")
        for book in kept:
            book.engine.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
