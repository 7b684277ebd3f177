"""The intent classifier: training, held-out paraphrases, OOS, caching, the eval CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import agents.intent_model as intent_model
from agents.intent_model import (
    C_GRID,
    MULTI_ENCODER_TFIDF,
    TFIDF_WEIGHTS,
    IntentClassifier,
    TextFeatures,
    _cv_fold,
)
from evals.datasets import DatasetError
from evals.intent import closed_set_label, load_labelled_csv, run_intent_eval
from knowledge.embeddings import Embedder, StackedEmbedder
from supportgraph.cli import app
from supportgraph.settings import BotConfig

DEMO = Path(__file__).resolve().parents[1] / "supportgraph" / "demo"

TRAIN: dict[str, list[str]] = {
    "track_order": [
        "where is my order", "can you tell me where my package is", "track my parcel please",
        "my order hasn't arrived yet", "what's the status of my delivery", "has my order shipped",
        "when will my package get here", "is my order on its way",
        "give me the tracking number for my order", "I ordered a week ago and nothing came",
        "did you send my order yet", "order status please",
    ],
    "request_refund": [
        "I want my money back", "can I get a refund", "please refund me",
        "how do I request a refund", "I'd like a refund for the broken blender",
        "refund my purchase", "give me my money back for this item",
        "start a refund for my order", "I returned the item, now refund me",
        "can you reimburse me", "the product was defective, I want a refund",
        "process a refund please",
    ],
    "reset_password": [
        "I forgot my password", "reset my password", "how do I change my password",
        "I can't remember my password", "password reset link not working",
        "send me a new password", "I need to set a new password", "locked out, forgot password",
        "my password doesn't work anymore", "how can I recover my password",
        "the reset email never came", "update my login password",
    ],
    "change_address": [
        "change my delivery address", "I moved, update my shipping address",
        "can I ship to a different address", "wrong address on my order",
        "update the address for my package", "I need to edit my address",
        "send my order to my office instead", "how do I change where my order goes",
        "my address is incorrect", "modify shipping address",
        "I typed the wrong street number", "change the postcode on my order",
    ],
    "payment_declined": [
        "my card was declined", "payment failed", "why won't my card go through",
        "I can't pay, it says transaction declined", "checkout keeps rejecting my card",
        "my payment isn't working", "the card payment was refused",
        "it won't accept my credit card", "payment error at checkout",
        "my transaction keeps failing", "why was my payment rejected", "card denied",
    ],
    "talk_to_human": [
        "I want to talk to a human", "let me speak to an agent", "connect me to a real person",
        "is there a person I can talk to", "transfer me to customer service",
        "I need a representative", "stop the bot, get me a human", "can I call someone",
        "speak to a manager", "live agent please", "I'd rather talk to a person",
        "get me a real human",
    ],
}
HELD_OUT = [
    ("any idea when my parcel will be delivered?", "track_order"),
    ("I'd like to be reimbursed for my purchase", "request_refund"),
    ("how can I get a new password, I lost mine", "reset_password"),
    ("please deliver my order to a different street", "change_address"),
    ("the bank refused my card when I tried to pay", "payment_declined"),
    ("can I chat with an actual human being", "talk_to_human"),
]
OOS_TRAIN = [
    "what's the weather like tomorrow", "tell me a joke", "who won the football game",
    "how do I bake bread", "what is the capital of australia", "recommend a good movie",
    "set an alarm for 7am", "translate hello into japanese", "play some music",
    "write me a poem about the sea", "how do I train my dog", "explain quantum physics",
]
UNRELATED = ["how tall is mount everest", "what's a good recipe for lasagna",
             "who painted the mona lisa", "how many moons does jupiter have"]


def _rows(with_oos: bool = False) -> tuple[list[str], list[str]]:
    texts = [t for utterances in TRAIN.values() for t in utterances]
    labels = [label for label, utterances in TRAIN.items() for _ in utterances]
    if with_oos:
        texts += OOS_TRAIN
        labels += ["oos"] * len(OOS_TRAIN)
    return texts, labels


@pytest.fixture(scope="module")
def plain(embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> IntentClassifier:
    texts, labels = _rows()
    return IntentClassifier.train(texts, labels, embedder,
                                  cache_dir=tmp_path_factory.mktemp("intent_cache"))


@pytest.fixture(scope="module")
def with_oos(embedder: Embedder) -> IntentClassifier:
    texts, labels = _rows(with_oos=True)
    return IntentClassifier.train(texts, labels, embedder)


def test_held_out_paraphrases_are_classified(plain: IntentClassifier) -> None:
    predictions = plain.predict_many([t for t, _ in HELD_OUT])
    right = sum(p.label == gold for p, (_, gold) in zip(predictions, HELD_OUT, strict=True))
    assert right >= 5, [(p.label, p.confidence) for p in predictions]
    assert not any(p.is_oos for p in predictions[:2])
    assert plain.labels == sorted(TRAIN)


def test_cross_validation_reports_its_choices(plain: IntentClassifier) -> None:
    chosen = plain.chosen
    assert chosen["head"] in {"embedding", "embedding+tfidf"}
    assert chosen["folds"] == 3 and chosen["cv_examples"] == 72
    assert set(chosen["cv_scores"]) == {f"encoders=all-MiniLM-L6-v2,tfidf_weight={w:g},C={c:g}"
                                        for w in TFIDF_WEIGHTS for c in C_GRID}
    assert chosen["encoders"] == "all-MiniLM-L6-v2"
    key = f"encoders=all-MiniLM-L6-v2,tfidf_weight={chosen['tfidf_weight']:g},C={chosen['C']:g}"
    best = chosen["cv_scores"][key]["accuracy"]
    assert best == max(row["accuracy"] for row in chosen["cv_scores"].values())
    assert 0 < plain.oos_threshold < 1 and chosen["oos_class"] is False


FRENCH = [("où en est ma livraison ?", "track_order"),
          ("je voudrais être remboursé", "request_refund"),
          ("j'ai oublié mon mot de passe", "reset_password"),
          ("je dois changer mon adresse de livraison", "change_address"),
          ("ma carte bancaire a été refusée", "payment_declined"),
          ("je veux parler à un conseiller", "talk_to_human")]


def test_the_multilingual_encoder_understands_french_against_english_examples(
        embedder: Embedder, multilingual: Embedder) -> None:
    texts, labels = _rows()
    stacked = StackedEmbedder([embedder, multilingual])
    both = IntentClassifier.train(texts, labels, stacked, encoders="all")
    alone = IntentClassifier.train(texts, labels, embedder)
    probes = [t for t, _ in FRENCH]
    gold = [g for _, g in FRENCH]
    right_both = sum(p.label == g for p, g in zip(both.predict_many(probes), gold, strict=True))
    right_alone = sum(p.label == g for p, g in zip(alone.predict_many(probes), gold,
                                                    strict=True))
    assert both.chosen["encoders"] == "all-MiniLM-L6-v2+use-multilingual-v3"
    assert right_both >= 5 and right_alone <= 2, (right_both, right_alone)
    # Both encoders are read without TF-IDF: the model sees the 384 + 512 dimensions.
    assert both.chosen["tfidf_weight"] == 0
    assert both.model.coef_.shape[1] == stacked.dim == 896


def test_cross_validation_chooses_between_the_encoder_sets(
        embedder: Embedder, multilingual: Embedder) -> None:
    texts, labels = _rows(with_oos=True)
    clf = IntentClassifier.train(texts, labels, StackedEmbedder([embedder, multilingual]))
    scores = clf.chosen["cv_scores"]
    names = {"all-MiniLM-L6-v2", "all-MiniLM-L6-v2+use-multilingual-v3"}
    assert {key.split(",")[0].removeprefix("encoders=") for key in scores} == names
    # The stacked set is tried without TF-IDF (MULTI_ENCODER_TFIDF).
    assert len(scores) == (len(TFIDF_WEIGHTS) + len(MULTI_ENCODER_TFIDF)) * len(C_GRID)
    key = (f"encoders={clf.chosen['encoders']},tfidf_weight={clf.chosen['tfidf_weight']:g},"
           f"C={clf.chosen['C']:g}")
    assert scores[key]["balanced"] == max(row["balanced"] for row in scores.values())
    with pytest.raises(ValueError, match="encoders must be one of"):
        IntentClassifier.train(texts, labels, embedder, encoders="both")


def test_warm_started_fits_reach_each_cs_own_solution(embedder: Embedder) -> None:
    # Each C on a fold starts from the previous C's solution. At sklearn's default solver
    # tolerance a warm start at a larger C stopped almost at once, near the smaller C's
    # solution (0.01-0.02 off in probability here, C 64 and 256 identical on the demo bot).
    texts, labels = _rows(with_oos=True)
    vectors = embedder.embed_documents(texts)
    y = np.array(labels, dtype=object)
    classes = np.array(sorted(set(labels)), dtype=object)
    train = np.arange(len(texts)) % 3 != 0
    tr_text = [t for t, k in zip(texts, train, strict=True) if k]
    te_text = [t for t, k in zip(texts, train, strict=True) if not k]
    proba = _cv_fold(tr_text, vectors[train], y[train], te_text, vectors[~train], classes,
                     seed=0, blocks=(embedder.dim,))
    assert set(proba) == {(1, w, c) for w in TFIDF_WEIGHTS for c in C_GRID}
    for weight in TFIDF_WEIGHTS:
        features = TextFeatures(weight).fit(tr_text)
        for c in C_GRID:
            cold = LogisticRegression(C=c, max_iter=5000, tol=1e-8).fit(
                features.transform(tr_text, vectors[train]), y[train])
            expected = cold.predict_proba(features.transform(te_text, vectors[~train]))
            assert np.abs(proba[(1, weight, c)] - expected).max() < 0.01, (weight, c)


def test_folds_in_worker_processes_choose_what_one_process_chooses(
        embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    texts, labels = _rows(with_oos=True)
    serial = IntentClassifier.train(texts, labels, embedder)
    monkeypatch.setattr(intent_model, "PARALLEL_MIN_EXAMPLES", 0)
    parallel = IntentClassifier.train(texts, labels, embedder)
    assert parallel.chosen["cv_scores"] == serial.chosen["cv_scores"]
    assert parallel.oos_threshold == serial.oos_threshold
    assert (parallel.chosen["tfidf_weight"], parallel.chosen["C"]) == \
        (serial.chosen["tfidf_weight"], serial.chosen["C"])


def test_alternatives_and_margin_are_consistent(plain: IntentClassifier) -> None:
    for p in plain.predict_many(["where is my order", "refund my card payment", "hello"]):
        assert len(p.alternatives) == 3
        probs = [prob for _, prob in p.alternatives]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
        assert p.margin == pytest.approx(probs[0] - probs[1])
        assert len({label for label, _ in p.alternatives}) == 3
        if not p.is_oos:
            assert (p.label, p.confidence) == p.alternatives[0]
        else:
            assert p.label == "oos"
    single = plain.predict("where is my order")
    assert single == plain.predict_many(["where is my order"])[0]


def test_without_oos_examples_unrelated_requests_are_out_of_scope(
        plain: IntentClassifier) -> None:
    unrelated = plain.predict_many(UNRELATED)
    assert sum(p.is_oos for p in unrelated) >= 3, [p.alternatives[0] for p in unrelated]
    in_scope = plain.predict_many(["where is my order", "I forgot my password",
                                   "my card was declined", "I want a refund"])
    assert not any(p.is_oos for p in in_scope)


def test_with_oos_examples_oos_is_a_class_with_a_tuned_threshold(
        with_oos: IntentClassifier) -> None:
    assert "oos" in with_oos.labels and with_oos.chosen["oos_class"] is True
    assert "balanced" in next(iter(with_oos.chosen["cv_scores"].values()))
    unrelated = with_oos.predict_many(UNRELATED)
    assert sum(p.is_oos and p.label == "oos" for p in unrelated) >= 3
    in_scope = with_oos.predict_many(["where is my order", "I forgot my password"])
    assert [p.label for p in in_scope] == ["track_order", "reset_password"]


def test_training_is_cached_by_examples_and_embeddings_by_text(
        embedder: Embedder, tmp_path: Path) -> None:
    texts, labels = _rows()
    texts, labels = texts[::2], labels[::2]  # a set no other test trained on
    first = IntentClassifier.train(texts, labels, embedder, cache_dir=tmp_path)
    before = embedder.texts_embedded
    second = IntentClassifier.train(list(reversed(texts)), list(reversed(labels)), embedder,
                                    cache_dir=tmp_path)
    assert embedder.texts_embedded == before  # reloaded from disk, nothing embedded
    assert second.chosen["from_cache"] and not first.chosen["from_cache"]
    probes = [t for t, _ in HELD_OUT]
    assert second.predict_many(probes) == first.predict_many(probes)
    before = embedder.texts_embedded
    IntentClassifier.train([*texts, "where the heck is my parcel"], [*labels, "track_order"],
                           embedder, cache_dir=tmp_path)
    assert embedder.texts_embedded == before + 1  # only the new example


def test_an_unreadable_cached_model_is_retrained_and_replaced(
        embedder: Embedder, tmp_path: Path) -> None:
    texts, labels = _rows()
    texts, labels = texts[1::3], labels[1::3]
    IntentClassifier.train(texts, labels, embedder, cache_dir=tmp_path)
    (cached,) = tmp_path.glob("model-*.pkl")
    cached.write_bytes(b"half a pickle")  # a crash mid-write on another machine, say
    again = IntentClassifier.train(texts, labels, embedder, cache_dir=tmp_path)
    assert not again.chosen["from_cache"] and again.predict("where is my order").label
    reloaded = IntentClassifier.train(texts, labels, embedder, cache_dir=tmp_path)
    assert reloaded.chosen["from_cache"] and reloaded.embedder is embedder
    assert not list(tmp_path.glob("*.tmp"))


def test_training_needs_two_labels(embedder: Embedder) -> None:
    with pytest.raises(ValueError, match="two labels"):
        IntentClassifier.train(["hi", "hello"], ["greet", "greet"], embedder)


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = ["text,label"] + [f'"{t}",{label}' for t, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_labelled_csv_names_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nwhere is my order,track_order\n,track_order\n")
    with pytest.raises(DatasetError) as err:
        load_labelled_csv(bad)
    assert (err.value.line, err.value.field) == (3, "text") and "bad.csv:3" in str(err.value)
    bad.write_text("utterance,label\nhi,greet\n")
    with pytest.raises(DatasetError, match="'text'"):
        load_labelled_csv(bad)
    bad.write_bytes(b"text,label\nok,a\ncaf\xe9,b\n")
    with pytest.raises(DatasetError, match="UTF-8") as err:
        load_labelled_csv(bad)
    assert err.value.line == 3
    with pytest.raises(DatasetError, match="no such file"):
        load_labelled_csv(tmp_path / "missing.csv")
    assert load_labelled_csv(_write_csv(tmp_path / "ok.csv", [("a, b", "x")])) == [("a, b", "x")]


@pytest.mark.parametrize("name", ["intents_test.csv", "intents_chat.csv"])
def test_demo_labelled_files_name_only_the_demo_bots_intents(name: str) -> None:
    """The held-out demo files load and every label is one of the bot's intents (or
    out of scope), so a renamed intent cannot silently turn test rows into errors."""
    intents = {intent.name for intent in BotConfig.from_yaml(DEMO / "bot.yaml").intents}
    rows = load_labelled_csv(DEMO / name)
    assert len(rows) >= 40 and {label for _, label in rows} <= intents | {"oos"}
    assert len({text for text, _ in rows}) == len(rows)  # no utterance written twice


runner = CliRunner()


def test_cli_eval_intent_writes_the_contract_json(
        embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import knowledge.embeddings

    monkeypatch.setenv("SUPPORTGRAPH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(knowledge.embeddings, "make_embedder", lambda *a, **k: embedder)
    texts, labels = _rows(with_oos=True)
    train = _write_csv(tmp_path / "train.csv", list(zip(texts, labels, strict=True)))
    test = _write_csv(tmp_path / "test.csv", HELD_OUT + [(t, "oos") for t in UNRELATED])
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["eval", "intent", "--train", str(train), "--test", str(test),
                                 "--json", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert set(payload) == {"accuracy", "macro_f1", "in_scope_accuracy", "oos_recall",
                            "oos_precision", "median_latency_ms", "train_seconds", "n_train",
                            "n_test", "n_intents", "chosen", "decision"}
    assert payload["decision"] == "open_set"
    assert (payload["n_train"], payload["n_test"], payload["n_intents"]) == (84, 10, 6)
    assert payload["accuracy"] >= 0.7 and payload["oos_recall"] >= 0.5
    assert (tmp_path / "data" / "intent_cache").is_dir()


def test_a_test_set_without_oos_is_scored_closed_set(
        plain: IntentClassifier, embedder: Embedder, tmp_path: Path) -> None:
    """Every test utterance of a closed-set benchmark has an intent: the best intent is
    scored, and what the OOS threshold would have rejected is reported beside it."""
    texts, labels = _rows()
    train = _write_csv(tmp_path / "train.csv", list(zip(texts, labels, strict=True)))
    hard = [("uh so the thing I bought, where is it", "track_order"),
            ("money back?", "request_refund")]
    test = _write_csv(tmp_path / "test.csv", HELD_OUT + hard)
    result = run_intent_eval(train, test, embedder, cache_dir=tmp_path / "cache")
    predictions = plain.predict_many([t for t, _ in HELD_OUT + hard])
    best = [closed_set_label(p, "oos") for p in predictions]
    gold = [label for _, label in HELD_OUT + hard]
    assert result["decision"] == "closed_set"
    assert "oos" not in best
    assert result["accuracy"] == round(sum(b == g for b, g in zip(best, gold, strict=True))
                                       / len(gold), 4)
    rejected = sum(p.is_oos for p in predictions)
    assert result["rejected_as_oos"] == round(rejected / len(gold), 4)
    assert result["open_set_accuracy"] == round(sum(
        p.label == g for p, g in zip(predictions, gold, strict=True)) / len(gold), 4)
    assert result["open_set_accuracy"] <= result["accuracy"]


def test_cli_eval_intent_rejects_a_bad_line_without_writing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTGRAPH_DATA_DIR", str(tmp_path / "data"))
    train = _write_csv(tmp_path / "train.csv", [("hi", "greet"), ("bye", "leave")])
    test = tmp_path / "test.csv"
    test.write_text("text,label\nhello,greet\nsee you,\n", encoding="utf-8")
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["eval", "intent", "--train", str(train), "--test", str(test),
                                 "--json", str(out)])
    assert result.exit_code == 2
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "test.csv:3" in lines[0] and "'label'" in lines[0]
    assert not out.exists()
    missing_col = runner.invoke(app, ["eval", "intent", "--train", str(train), "--test",
                                      str(test), "--label-col", "intent"])
    assert missing_col.exit_code == 2 and "train.csv:1" in missing_col.output


def test_auto_reads_every_encoder_for_a_bot_that_serves_several_languages(
        embedder: Embedder) -> None:
    from supportgraph.runtime import intent_embedder, intent_encoders
    from supportgraph.settings import BotConfig, Settings

    assert intent_encoders(Settings(), BotConfig(languages=["en", "fr"])) == "all"
    assert intent_encoders(Settings(), BotConfig(languages=["en"])) == "cv"
    assert intent_encoders(Settings()) == "cv"  # eval intent: no bot, CV decides
    assert intent_encoders(Settings(intent_multilingual_encoder="always")) == "all"
    assert intent_encoders(Settings(intent_multilingual_encoder="cv"),
                           BotConfig(languages=["en", "fr"])) == "cv"
    assert intent_embedder(Settings(intent_multilingual_encoder="off"), embedder) is embedder
    stacked = intent_embedder(Settings(), embedder)
    assert stacked.name == "all-MiniLM-L6-v2+use-multilingual-v3" and stacked.dim == 896
