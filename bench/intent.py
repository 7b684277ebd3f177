"""Intent classification: the intent agent's classifier against two baselines.

Compares, on one labelled train/test pair:

* `IntentClassifier` (agents/intent_model.py): logistic regression on MiniLM
  embeddings, + TF-IDF or + the multilingual USE encoder as cross-validation
  prefers (`--no-multilingual`: MiniLM and TF-IDF only), with out-of-scope
  detection;
* TF-IDF (word 1-2-grams) + logistic regression (C=10), OOS only as a class;
* 1-NN: cosine nearest training utterance on the same embeddings.

Default data: the demo bot (supportgraph/demo/bot.yaml: each intent's examples,
`out_of_scope_examples` as label `oos`) against supportgraph/demo/intents_test.csv.
Latency is per utterance, one at a time, embedding included (p50 over a sample).

`--scale N` times training on N templated utterances over 144 labels (the
phrases below × 6 products), the 10k-utterance training target being 90 s.
`--synthetic` runs the comparison on the phrases below (held-out split, with
unrelated requests as OOS) instead of the demo bot.

    python bench/intent.py
    python bench/intent.py --train train.csv --test test.csv --json out.json
    python bench/intent.py --scale 10000
    python bench/intent.py --scale 10000 --label-noise 0.2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from agents.intent_model import IntentClassifier
from evals.intent import latency_sample, load_labelled_csv, score_predictions
from knowledge.embeddings import Embedder, make_embedder
from supportgraph.runtime import intent_embedder
from supportgraph.settings import BotConfig, Settings

DEMO = Path(__file__).resolve().parents[1] / "supportgraph" / "demo"
DEMO_BOT = DEMO / "bot.yaml"
DEMO_TEST = DEMO / "intents_test.csv"
console = Console()

Rows = list[tuple[str, str]]

SYNTHETIC_INTENTS: dict[str, list[str]] = {
    "track_order": [
        "where is my order", "can you tell me where my package is", "track my parcel please",
        "my order hasn't arrived yet, where is it", "what's the status of my delivery",
        "has my order shipped", "I want to follow my shipment", "when will my package get here",
        "is my order on its way", "give me the tracking number for my order",
        "I ordered a week ago and nothing came", "where's my stuff",
        "how far along is my delivery", "did you send my order yet", "order status please",
    ],
    "cancel_order": [
        "cancel my order", "I want to cancel the order I just placed", "please stop my order",
        "can I still cancel my purchase", "I changed my mind, cancel it",
        "don't ship my order, I want to cancel", "how do I cancel an order",
        "I placed an order by mistake, cancel it please", "cancel order 4412",
        "I no longer want the items I ordered", "abort my purchase",
        "is it too late to cancel my order", "get rid of my last order",
        "I need to call off my order", "void the order I made this morning",
    ],
    "request_refund": [
        "I want my money back", "can I get a refund", "please refund me",
        "how do I request a refund", "I'd like a refund for the broken blender",
        "refund my purchase", "I was charged but I want to be reimbursed",
        "give me my money back for this item", "start a refund for my order",
        "I returned the item, now refund me", "can you reimburse me",
        "the product was defective, I want a refund", "I demand a refund",
        "process a refund please", "I need to be paid back for the jacket",
    ],
    "refund_status": [
        "where is my refund", "I haven't received my refund yet", "when will I get my refund",
        "how long does a refund take", "my refund still hasn't shown up",
        "status of my refund please", "has my refund been processed",
        "it's been two weeks and no refund", "did you send my money back yet",
        "when does the refund hit my account", "refund not received",
        "is my reimbursement on its way", "check on my refund", "still waiting for my money back",
        "why is my refund taking so long",
    ],
    "return_item": [
        "how do I return an item", "I want to send this back", "can I return my shoes",
        "what's your return policy", "I need a return label", "return a product",
        "the size is wrong, I want to return it", "how many days do I have to return something",
        "start a return", "can I exchange this for another size",
        "I'd like to ship the item back to you", "where do I send returns",
        "is return shipping free", "I want to return a gift", "can I bring it back to the store",
    ],
    "change_address": [
        "change my delivery address", "I moved, update my shipping address",
        "can I ship to a different address", "wrong address on my order",
        "update the address for my package", "I need to edit my address",
        "send my order to my office instead", "how do I change where my order goes",
        "my address is incorrect", "modify shipping address",
        "redirect my parcel to another address", "I typed the wrong street number",
        "can you deliver to my new apartment", "change the postcode on my order",
        "update address",
    ],
    "damaged_item": [
        "my item arrived broken", "the package was damaged", "the product is cracked",
        "I received a damaged item", "the box was crushed and the mug is broken",
        "it came scratched", "the screen is shattered on arrival",
        "something in my order is broken", "parts are missing and it's damaged",
        "the vase arrived in pieces", "my order came damaged what do I do",
        "the bottle leaked all over the box", "defective product received",
        "the item doesn't work out of the box", "it's torn",
    ],
    "payment_declined": [
        "my card was declined", "payment failed", "why won't my card go through",
        "I can't pay, it says transaction declined", "checkout keeps rejecting my card",
        "my payment isn't working", "the card payment was refused",
        "error when paying with visa", "it won't accept my credit card",
        "payment error at checkout", "my transaction keeps failing",
        "why was my payment rejected", "card denied", "can't complete the purchase, card refused",
        "declined payment",
    ],
    "payment_methods": [
        "what payment methods do you accept", "can I pay with paypal",
        "do you take apple pay", "is cash on delivery possible", "can I pay in installments",
        "do you accept american express", "which cards can I use",
        "can I pay by bank transfer", "do you take gift cards as payment",
        "is klarna available", "can I use google pay", "ways to pay",
        "do you accept crypto", "can I split the payment", "payment options",
    ],
    "reset_password": [
        "I forgot my password", "reset my password", "how do I change my password",
        "I can't remember my password", "password reset link not working",
        "send me a new password", "I need to set a new password",
        "locked out, forgot password", "change password", "my password doesn't work anymore",
        "how can I recover my password", "the reset email never came",
        "I want a different password", "update my login password", "forgotten password",
    ],
    "login_problem": [
        "I can't log in", "login isn't working", "it says my account is locked",
        "I can't sign in to my account", "the app won't let me log in",
        "two factor code not arriving", "error when signing in", "my account got locked",
        "can't access my account", "sign in fails every time", "verification code is wrong",
        "it keeps logging me out", "stuck on the login page", "login error",
        "unable to access my profile",
    ],
    "close_account": [
        "delete my account", "I want to close my account", "remove all my data",
        "how do I deactivate my profile", "cancel my account permanently",
        "please erase my account", "I don't want an account anymore",
        "terminate my membership account", "close my profile", "delete my personal data",
        "unregister me", "how to remove my account", "wipe my account",
        "I'd like my account deleted", "shut down my account",
    ],
    "cancel_subscription": [
        "cancel my subscription", "stop my monthly plan", "I want to unsubscribe from the box",
        "end my membership", "how do I stop the recurring payments",
        "don't renew my subscription", "turn off auto renew", "pause my subscription",
        "I no longer want the monthly delivery", "cancel the premium plan",
        "stop charging me every month", "quit my subscription",
        "how do I end my plan", "unsubscribe me from the service", "cancel membership",
    ],
    "shipping_cost": [
        "how much is shipping", "is delivery free", "what are the shipping fees",
        "do you offer free shipping", "how much does it cost to ship to canada",
        "shipping price", "delivery charges", "minimum order for free delivery",
        "why is shipping so expensive", "how much for express shipping",
        "what do you charge for postage", "is there a delivery fee",
        "cost of international shipping", "shipping rates", "do I pay for delivery",
    ],
    "delivery_time": [
        "how long does delivery take", "when will it arrive if I order today",
        "how many days for shipping", "do you deliver on weekends",
        "what is the delivery time to france", "how fast is express delivery",
        "can I get it by friday", "shipping time", "estimated delivery time",
        "how quickly do you ship", "next day delivery available",
        "how long until my order is dispatched", "delivery takes how long",
        "when do orders ship", "typical shipping duration",
    ],
    "promo_code": [
        "my discount code doesn't work", "how do I use a promo code",
        "the coupon is invalid", "where do I enter my voucher", "apply a discount code",
        "do you have any promo codes", "my coupon was not applied",
        "is there a discount for students", "promo code expired", "can I use two coupons",
        "voucher not accepted", "any sales going on", "first order discount",
        "the code says invalid", "how to redeem a coupon",
    ],
    "product_availability": [
        "is this item in stock", "when will the blue sweater be available again",
        "do you have this in size 10", "out of stock when back",
        "is the kettle available", "notify me when it's back in stock",
        "do you still sell the red backpack", "do you have more of these",
        "is it available in black", "will you restock this", "availability of the lamp",
        "can I preorder", "is this product discontinued", "how many are left",
        "do you carry this brand",
    ],
    "invoice_request": [
        "I need an invoice", "send me a receipt", "can I get a VAT invoice",
        "where can I download my invoice", "invoice for my order please",
        "I need a receipt for my expenses", "can you put my company name on the invoice",
        "resend the receipt", "I lost my receipt", "billing document for order 5531",
        "get a copy of my bill", "tax invoice", "I need proof of purchase",
        "the invoice has the wrong address", "download receipt",
    ],
    "talk_to_human": [
        "I want to talk to a human", "let me speak to an agent", "connect me to a real person",
        "is there a person I can talk to", "transfer me to customer service",
        "I need a representative", "stop the bot, get me a human", "can I call someone",
        "speak to a manager", "put me through to support staff", "live agent please",
        "I'd rather talk to a person", "human please", "get me a real human",
        "can someone from your team contact me",
    ],
    "greeting": [
        "hi", "hello", "hey there", "good morning", "hi, anyone there?", "hello!",
        "good afternoon", "hey", "hiya", "morning", "greetings", "yo",
        "hello, how are you", "good evening", "hi there",
    ],
    "thanks": [
        "thanks", "thank you so much", "great, thanks", "cheers", "thanks a lot",
        "that helped, thank you", "perfect thanks", "thank you for your help",
        "much appreciated", "awesome thanks", "ok thanks", "thx", "many thanks",
        "thanks, that's all", "appreciate it",
    ],
    "complaint": [
        "your service is terrible", "I'm very unhappy with my order", "this is unacceptable",
        "I want to file a complaint", "worst customer service ever",
        "I'm disappointed with the quality", "I'm fed up with your company",
        "nobody answered my emails", "I want to complain about the courier",
        "this experience was awful", "the delivery guy was rude", "I'm really angry",
        "you people are useless", "I'm making a formal complaint", "horrible experience",
    ],
    "store_hours": [
        "what time do you open", "when does the store close", "are you open on sunday",
        "opening hours", "what are your business hours", "is the shop open today",
        "holiday opening times", "when can I visit the store", "what time does support open",
        "are you open late on thursdays", "closing time", "store hours please",
        "is the warehouse open on saturday", "when are you available", "hours of operation",
    ],
    "wrong_item": [
        "I received the wrong item", "this isn't what I ordered", "you sent me the wrong size",
        "wrong color delivered", "the package had someone else's order",
        "I got a different product", "item doesn't match my order", "you mixed up my order",
        "I ordered a blue one and got red", "missing item in my order",
        "only half my order arrived", "wrong product sent", "this is not my package",
        "incorrect item received", "the order contents are wrong",
    ],
}

SYNTHETIC_OOS = [
    "what's the weather like tomorrow", "tell me a joke", "who won the football game last night",
    "how do I bake sourdough bread", "what is the capital of australia",
    "can you recommend a good movie", "how tall is mount everest", "set an alarm for 7am",
    "translate hello into japanese", "what's 15 times 23", "play some music",
    "who is the president of france", "how do I fix my car's brakes",
    "write me a poem about the sea", "what's the meaning of life", "book me a flight to rome",
    "how many calories in an apple", "what's the best programming language",
    "how do I train my dog to sit", "explain quantum physics", "what time is it in tokyo",
    "find me a restaurant nearby", "how do I learn guitar", "what's bitcoin's price today",
    "remind me to call mom", "how old is the universe", "recommend a book to read",
    "help me with my math homework", "what's a good name for a cat",
    "how do I grow tomatoes", "is it going to rain this weekend", "who painted the mona lisa",
    "how do vaccines work", "plan a trip to barcelona", "what is the speed of light",
    "how do I file my taxes", "suggest a workout routine", "what's trending on twitter",
    "how do I change a flat tire", "convert 10 miles to kilometers",
]

PRODUCTS = ["shoes", "laptop", "sofa", "book", "phone", "jacket"]
PREFIXES = ["", "hi, ", "hello, ", "quick question: ", "please help: ", "hey ", "excuse me, ",
            "urgent: ", "good morning, ", "sorry to bother you, "]
SUFFIXES = ["", "?", " thanks", " please", " asap", " - order 12345", ", thank you", "!!",
            " (second time asking)", " cheers"]


def demo_rows(path: Path = DEMO_BOT, oos_label: str = "oos") -> Rows:
    """Training rows of a bot config: intent examples, plus out-of-scope examples as OOS."""
    config = BotConfig.from_yaml(path)  # resolves files the config names (product_names)
    rows = [(text, intent.name) for intent in config.intents for text in intent.examples]
    return rows + [(text, oos_label) for text in config.out_of_scope_examples]


def synthetic_split(per_intent: int = 10, seed: int = 0,
                    oos_label: str = "oos") -> tuple[Rows, Rows]:
    """Held-out split of the phrases above; unrelated requests are test-only OOS."""
    rng = random.Random(seed)
    train: Rows = []
    test: Rows = []
    for label, phrases in SYNTHETIC_INTENTS.items():
        shuffled = rng.sample(phrases, len(phrases))
        train += [(t, label) for t in shuffled[:per_intent]]
        test += [(t, label) for t in shuffled[per_intent:]]
    return train, test + [(t, oos_label) for t in SYNTHETIC_OOS]


def scaled_rows(n: int, seed: int = 0) -> Rows:
    """N templated utterances over (intent x product) labels, for timing only."""
    rng = random.Random(seed)
    labels = [(i, p) for i in SYNTHETIC_INTENTS for p in PRODUCTS]
    rows: Rows = []
    for k in range(n):
        intent, product = labels[k % len(labels)]
        about = rng.choice(["about", "for", "regarding", "re:"])
        text = (f"{rng.choice(PREFIXES)}{rng.choice(SYNTHETIC_INTENTS[intent])} "
                f"({about} the {product}){rng.choice(SUFFIXES)}")
        rows.append((text, f"{intent}_{product}"))
    return rows


def p50_ms(texts: Sequence[str], classify: Callable[[str], Any]) -> float:
    times = []
    for text in texts:
        started = time.perf_counter()
        classify(text)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times) if times else 0.0


def run_ours(train: Rows, test: Rows, embedder: Embedder, oos_label: str
             ) -> tuple[list[str], float, float, dict[str, Any]]:
    started = time.perf_counter()
    clf = IntentClassifier.train([t for t, _ in train], [y for _, y in train], embedder,
                                 oos_label=oos_label)
    seconds = time.perf_counter() - started
    texts = [t for t, _ in test]
    latency = p50_ms(latency_sample(texts), clf.predict)
    return [p.label for p in clf.predict_many(texts)], seconds, latency, clf.chosen


def run_tfidf(train: Rows, test: Rows) -> tuple[list[str], float, float]:
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(C=10, max_iter=1000)
    model.fit(vectorizer.fit_transform([t for t, _ in train]), [y for _, y in train])
    seconds = time.perf_counter() - started
    texts = [t for t, _ in test]
    latency = p50_ms(latency_sample(texts),
                     lambda t: model.predict(vectorizer.transform([t])))
    return [str(p) for p in model.predict(vectorizer.transform(texts))], seconds, latency


def run_nn(train: Rows, test: Rows, embedder: Embedder) -> tuple[list[str], float, float]:
    started = time.perf_counter()
    matrix = embedder.embed_documents([t for t, _ in train])
    seconds = time.perf_counter() - started
    labels = np.array([y for _, y in train], dtype=object)
    texts = [t for t, _ in test]

    def one(text: str) -> str:  # embed_documents: no query cache, the embedding is timed
        return str(labels[int(np.argmax(matrix @ embedder.embed_documents([text])[0]))])

    latency = p50_ms(latency_sample(texts), one)
    vectors = embedder.embed_documents(texts)
    return [str(v) for v in labels[np.argmax(vectors @ matrix.T, axis=1)]], seconds, latency


def compare(train: Rows, test: Rows, embedder: Embedder, oos_label: str,
            title: str) -> dict[str, Any]:
    gold = [y for _, y in test]
    results: dict[str, Any] = {}
    pred, seconds, latency, chosen = run_ours(train, test, embedder, oos_label)
    results["intent classifier"] = score_predictions(gold, pred, oos_label) | {
        "train_seconds": seconds, "p50_ms": latency, "chosen": chosen}
    pred, seconds, latency = run_tfidf(train, test)
    results["tf-idf + logreg"] = score_predictions(gold, pred, oos_label) | {
        "train_seconds": seconds, "p50_ms": latency}
    pred, seconds, latency = run_nn(train, test, embedder)
    results["1-NN (cosine)"] = score_predictions(gold, pred, oos_label) | {
        "train_seconds": seconds, "p50_ms": latency}

    n_intents = len({y for _, y in train if y != oos_label})
    table = Table(title=f"{title}: {n_intents} intents, {len(train)} train, "
                        f"{len(test)} test utterances")
    for col in ("method", "accuracy", "macro-F1", "in-scope acc", "OOS recall", "train s",
                "p50 ms/utt"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for name, r in results.items():
        table.add_row(name, f"{r['accuracy']:.3f}", f"{r['macro_f1']:.3f}",
                      f"{r['in_scope_accuracy']:.3f}" if "in_scope_accuracy" in r else "-",
                      f"{r['oos_recall']:.3f}" if "oos_recall" in r else "-",
                      f"{r['train_seconds']:.2f}", f"{r['p50_ms']:.1f}")
    console.print(table)
    c = chosen
    console.print(f"chosen: head {c['head']}, tfidf weight {c['tfidf_weight']:g}, C {c['C']:g}, "
                  f"{c['folds']}-fold CV on {c['cv_examples']} utterances, OOS threshold "
                  f"{c['oos_threshold']:.3f} ({c['oos_rule']})", highlight=False)
    for key, row in c["cv_scores"].items():
        console.print(f"  cv {key}: {row}", highlight=False)
    return results


def noisy(rows: Rows, fraction: float, seed: int = 1) -> Rows:
    """`fraction` of the rows get a random label: a harder fit (real data is not as clean
    as templates), for timing only."""
    rng = random.Random(seed)
    labels = sorted({y for _, y in rows})
    return [(t, rng.choice(labels) if rng.random() < fraction else y) for t, y in rows]


def scale(n: int, embedder: Embedder, label_noise: float = 0.0) -> dict[str, Any]:
    rows = noisy(scaled_rows(n), label_noise) if label_noise else scaled_rows(n)
    started = time.perf_counter()
    clf = IntentClassifier.train([t for t, _ in rows], [y for _, y in rows], embedder)
    seconds = time.perf_counter() - started
    probes = [t for t, _ in scaled_rows(300, seed=1)]
    latency = p50_ms(latency_sample(probes, 200), clf.predict)
    noise = f", {label_noise:.0%} random labels" if label_noise else ""
    table = Table(title=f"Training on {n} templated utterances, {len(clf.labels)} labels"
                        f"{noise}, {os.cpu_count()} CPUs")
    for col in ("train s", "of which embedding s", "head", "C", "folds", "CV utterances",
                "p50 ms/utt"):
        table.add_column(col, justify="right")
    c = clf.chosen
    table.add_row(f"{seconds:.1f}", f"{c['embed_seconds']:.1f}", c["head"], f"{c['C']:g}",
                  str(c["folds"]), str(c["cv_examples"]), f"{latency:.1f}")
    console.print(table)
    return {"n": n, "label_noise": label_noise, "train_seconds": seconds,
            "embed_seconds": c["embed_seconds"], "p50_ms": latency, "chosen": c}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, help="Training CSV (default: the demo bot).")
    parser.add_argument("--test", type=Path, help="Test CSV (default: demo intents_test.csv).")
    parser.add_argument("--text-col", default="text")
    parser.add_argument("--label-col", default="label")
    parser.add_argument("--oos-label", default="oos")
    parser.add_argument("--synthetic", action="store_true",
                        help="Compare on the built-in synthetic split instead.")
    parser.add_argument("--scale", type=int, default=0, metavar="N",
                        help="Also time training on N templated utterances (e.g. 10000).")
    parser.add_argument("--label-noise", type=float, default=0.0, metavar="P",
                        help="With --scale: give a fraction P of the utterances a random "
                             "label (a harder fit, as real data is).")
    parser.add_argument("--no-multilingual", action="store_true",
                        help="MiniLM alone: leave out the multilingual encoder.")
    parser.add_argument("--batch-size", type=int, default=128, help="Embedding batch size.")
    parser.add_argument("--json", type=Path, help="Write the results here.")
    args = parser.parse_args(argv)

    embedder = make_embedder(None, batch_size=args.batch_size)
    if not args.no_multilingual:
        embedder = intent_embedder(Settings(), embedder)
    out: dict[str, Any] = {}
    if args.synthetic:
        train, test = synthetic_split(oos_label=args.oos_label)
        out["synthetic"] = compare(train, test, embedder, args.oos_label, "Synthetic split")
    else:
        train = (load_labelled_csv(args.train, args.text_col, args.label_col) if args.train
                 else demo_rows(oos_label=args.oos_label))
        test = load_labelled_csv(args.test or DEMO_TEST, args.text_col, args.label_col)
        title = f"{args.train.name if args.train else 'demo bot.yaml'} -> " \
                f"{(args.test or DEMO_TEST).name}"
        out["compare"] = compare(train, test, embedder, args.oos_label, title)
    if args.scale:
        out["scale"] = scale(args.scale, embedder, args.label_noise)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
