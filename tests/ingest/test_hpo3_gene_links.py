"""Gene links for diseases the gene files lack: only where one gene's phenotype set needs the disease."""

from __future__ import annotations

from kgdx.ingest.hpo3 import sole_gene_links

# Terms are plain ints, as hpo3 gives them. Gene 1 is linked to OLD:1 (terms 1, 2) and its set
# also holds 3, 4: only NEW:1 (3, 4) explains those. Gene 2 is a hub whose known diseases
# already explain every term, so it does not need NEW:1 although its set covers it.
DISEASES = {"OLD:1": {1, 2}, "OLD:2": {3, 4, 5}, "NEW:1": {3, 4}, "NEW:2": {9}, "NEW:3": {7}, "NEW:4": set()}
GENES = {1: {1, 2, 3, 4}, 2: {1, 2, 3, 4, 5}, 3: {7, 8}, 4: {7}}
KNOWN = {1: {"OLD:1"}, 2: {"OLD:1", "OLD:2"}}


def test_sole_gene_links():
    links, refused = sole_gene_links(["NEW:1", "NEW:2", "NEW:3", "NEW:4"], DISEASES, GENES, KNOWN)
    assert links == {"NEW:1": 1}
    assert refused == {
        "no gene's phenotype set needs it": 1,  # NEW:2: no gene has term 9
        "several genes could explain it": 1,  # NEW:3: genes 3 and 4 (neither has a known disease)
        "no annotations in the release": 1,  # NEW:4
    }


def test_a_disease_listed_for_its_gene_is_left_out_of_the_others():
    # Leave-one-out: with NEW:1 listed for gene 1 already, gene 1 still needs it.
    links, _ = sole_gene_links(["NEW:1"], DISEASES, GENES, {1: {"OLD:1", "NEW:1"}, 2: KNOWN[2]})
    assert links == {"NEW:1": 1}
