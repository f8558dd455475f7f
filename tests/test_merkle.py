"""service.record.merkle against pymerkle (RFC 6962 hashing) and the RFC's verification algorithms."""
from hypothesis import given, settings, strategies as st
from pymerkle import InmemoryTree

from service.record import merkle


def _grow(entries, batches):
    """Append through Frontier in the given batch sizes, as the sealer does; keep every node."""
    stored, roots, frontier, taken = {}, {}, None, 0
    for size in batches:
        frontier = merkle.Frontier(taken, lambda lv, i: stored[(lv, i)])
        for data in entries[taken:taken + size]:
            frontier.append(merkle.leaf_hash(data))
        stored.update(frontier.new)
        taken = frontier.size
        roots[taken] = frontier.root()
    return stored, roots


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=12))
def test_roots_and_proofs_match_pymerkle_whatever_the_batches(batches):
    entries = [f"entry {n}".encode() for n in range(sum(batches))]
    reference = InmemoryTree(algorithm="sha256")
    for data in entries:
        reference.append_entry(data)
    stored, roots = _grow(entries, batches)
    def get(level, index):
        return stored[(level, index)]
    for size, root in roots.items():
        assert root == reference.get_root(size) == merkle.root(size, get)
        for index in range(size):
            path = merkle.inclusion_path(index, size, get)
            assert merkle.verify_inclusion(index, size, merkle.leaf_hash(entries[index]), path, root)
            assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(b"forged"), path, root)
        for old in roots:
            if old <= size:
                path = merkle.consistency_path(old, size, get)
                assert merkle.verify_consistency(old, size, roots[old], root, path)
                if old < size:
                    assert not merkle.verify_consistency(old, size, merkle.leaf_hash(b"x"), root, path)


def test_a_proof_reads_only_log_n_stored_nodes():
    entries = [bytes([n % 256, n // 256]) for n in range(1000)]
    stored, _ = _grow(entries, [1000])
    wanted = merkle.needed(lambda get: merkle.inclusion_path(517, 1000, get))
    assert len(wanted) <= 2 * 10 and wanted <= stored.keys()
    assert len(merkle.needed(lambda get: merkle.consistency_path(300, 1000, get))) <= 2 * 2 * 10
