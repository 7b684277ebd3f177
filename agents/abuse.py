"""Abuse toward the assistant or the staff: directed insults, slurs, harassment, threats.

A small lexicon and hand-written patterns in English and French, run on a canonical
form of the message: case, accents, leetspeak ("conn@rd", "1d10t"), masked letters
("f*ck", "f***ing"), spaced letters ("f.u.c.k") and stretched letters ("stuuupid") are
undone first. High precision comes first: swearing about the situation ("this f***ing
parcel is late again", "putain, encore en retard") is venting, let through and only
marked `frustrated`; an insult counts when it is aimed at the reader ("you idiot",
"vous êtes des connards", "Connard !") or at the staff ("your agents are morons"); slurs,
harassment and threats of violence count wherever they are.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

KINDS = ("insult", "slur", "harassment", "sexual_harassment", "threat")
"""The kinds of abuse a verdict names; stable, shown by the API and traces."""


@dataclass(frozen=True)
class AbuseVerdict:
    """What the detector found in one message."""

    kind: str | None
    """One of KINDS, or None when the message is not abusive."""
    rule: str = ""
    """The name of the rule that matched, e.g. `en:insult_you` (never the words)."""
    frustrated: bool = False
    """Swearing, anger or exasperation that is not abuse: a complaint, let through."""

    @property
    def abusive(self) -> bool:
        return self.kind is not None


# --- lexicon ------------------------------------------------------------------------------
# Each entry is a base form; plurals are added ("+e" also adds the French feminine).

_INSULTS_EN = """idiot moron imbecile cretin loser jerk asshole arsehole bastard bitch cunt
dickhead dick prick twat wanker tosser bellend knobhead scumbag dumbass jackass douchebag
douche motherfucker fucker shithead cocksucker clown slut whore pig scum trash garbage
halfwit nitwit dimwit numpty muppet cow retard faggot fag""".split()
_INSULT_ADJECTIVES_EN = "stupid dumb retarded brainless idiotic moronic braindead".split()
_INSULTS_FR = """idiot+e imbecile cretin+e abruti+e connard connasse con conne salaud
salope salopard pute encule+e enfoire+e ordure bouffon+ne batard+e tocard+e tare+e
attarde+e mongol+e pd pede tapette gogol guignol clown boloss cassos baltringue raclure
pouffiasse grognasse""".split()
_INSULT_VERBS = "enculer niquer".split()
"""Verbs of the insulting phrases ("va te faire enculer"), so masked spellings resolve."""
_INSULT_ADJECTIVES_FR = "stupide stupides bete betes debile debiles".split()
_SLURS = {"retard", "retarded", "faggot", "fag", "pd", "pede", "tapette", "mongol", "attarde",
          "gogol", "nigger", "kike", "tranny", "bougnoule", "youpin"}
"""Insults that attack who a person is; the verdict's kind is `slur` when one is used."""
_SLURS_ALWAYS = ("nigger", "kike", "tranny", "bougnoule", "youpin", "pede", "faggot")
"""Slurs with no innocent reading in a support chat: abuse wherever they appear."""
_PROFANITY = """fuck fucking fucked fuckin shit shitty bullshit crap crappy damn goddamn bloody
hell wtf ffs omfg pissed sucks effing frigging freaking screwed putain ptn merde merdique
bordel chier chiant chiante emmerde emmerdant foutu foutue foutre""".split()
_FRUSTRATION = """angry furious livid fed ridiculous unacceptable annoyed frustrated
frustrating disgusted disgraceful outrageous pathetic useless incompetent joke terrible worst
horrible awful scam scammers thieves ripoff upset disappointed nul nulle nuls pourri naze marre
inadmissible scandale scandaleux scandaleuse honte honteux inacceptable arnaque escroc escrocs
voleur voleurs colere enerve enervee furieux furieuse agace agacee degoute degoutee lamentable
catastrophique incompetent incompetents decu decue insupportable ridicule absurde""".split()

_ALIASES = {
    "fck": "fuck", "fuk": "fuck", "fuq": "fuck", "fvck": "fuck", "phuck": "fuck", "fk": "fuck",
    "f***": "fuck", "f**": "fuck", "fking": "fucking", "fkn": "fucking", "fckn": "fucking",
    "fcking": "fucking", "fukin": "fucking", "fuking": "fucking", "fuckin": "fucking",
    "fuckyou": "fuck you", "fuckoff": "fuck off", "stfu": "stfu", "gfy": "gfy", "kys": "kys",
    "fing": "fucking", "ahole": "asshole", "azzhole": "asshole", "biatch": "bitch",
    "btch": "bitch", "dikhead": "dickhead",
    "mofo": "motherfucker", "stoopid": "stupid", "connar": "connard", "conar": "connard",
    "encul": "encule", "salop": "salaud", "batar": "batard", "fdp": "fils de pute",
    "ntm": "nique ta mere", "tagueule": "ta gueule", "ftg": "ferme ta gueule",
    "vtff": "va te faire foutre", "tg": "tg", "ptn": "putain", "wtf": "wtf", "pds": "pd",
    "trouducul": "trou du cul", "trouduc": "trou du cul",
}


def _forms(base: str, english: bool) -> Iterator[str]:
    word, _, feminine = base.partition("+")
    endings = [""] + ([feminine] if feminine else [])
    for stem in (word + e for e in endings):
        yield stem
        yield stem + ("es" if english and stem.endswith(("ch", "sh", "ss", "x")) else "s")


def _lexicon() -> dict[str, str]:
    """Every spelling the detector knows -> its base form."""
    table: dict[str, str] = {}
    for bases, english in ((_INSULTS_EN, True), (_INSULTS_FR, False)):
        for base in bases:
            for form in _forms(base, english):
                table.setdefault(form, base.partition("+")[0])
    table |= {"conne": "con", "connes": "con", "bitches": "bitch"}
    for word in (*_INSULT_ADJECTIVES_EN, *_PROFANITY, *_FRUSTRATION, *_SLURS_ALWAYS,
                 *_INSULT_VERBS):
        table.setdefault(word, word)
    return table | _ALIASES


LEXICON = _lexicon()
_SINGLE_WORDS = tuple(sorted(w for w in LEXICON if w.isalpha()))

# --- canonical form ---------------------------------------------------------------------

_LEET = str.maketrans({"@": "a", "4": "a", "3": "e", "1": "i", "!": "i", "|": "i", "0": "o",
                       "$": "s", "5": "s", "7": "t"})
_MASKS = "*#%._"
_QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "“": '"', "”": '"',
                         "«": '"', "»": '"', "„": '"'})
_SPACED = re.compile(r"(?<![\w'@$*])(?:[a-z0-9@$][ .\-_]{1,3}){2,}[a-z0-9@$](?![\w'@$*])")
_TOKEN = re.compile(r"[a-z0-9@$*#%!|_]+(?:[.'][a-z0-9@$*#%!|_]+)*'?|[,;:!?.\"']")
_HYPHENATED = re.compile(r"(?<![a-z0-9@$*])[a-z0-9@$*]+(?:-[a-z0-9@$*]+)+")
_RUN = re.compile(r"([a-z])\1{2,}")
_ELISION = re.compile(r"^(c|d|j|l|m|n|s|t|qu|jusqu|lorsqu|puisqu|quoiqu)'(.+)$")
_CONTRACTION = re.compile(r"^(.+?)('(?:re|ll|m|ve|d|s))$")


def _fold(text: str) -> str:
    """Lower case, no accents, typographic quotes made plain, full-width forms folded."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _squeezed(token: str) -> Iterator[str]:
    """A stretched word ("stuuupid", "connnnard") with each long run as one or two letters."""
    runs = list(_RUN.finditer(token))[:4]
    for widths in itertools.product((1, 2), repeat=len(runs)):
        out, last = [], 0
        for run, width in zip(runs, widths, strict=True):
            out += [token[last:run.start()], run.group(1) * width]
            last = run.end()
        yield "".join(out) + token[last:]


def _unmasked(token: str) -> str | None:
    """The lexicon word a masked spelling stands for ("f*ck", "f***ing", "sh.t"): first
    letter shown, at least two letters shown, each masked run one to a few letters."""
    letters = sum(ch.isalpha() for ch in token)
    if not token[0].isalpha() or letters < 2 or len(token) > 16:
        return None
    parts = re.split(r"([*#%._]+)", token)
    pattern = "".join(f".{{1,{len(p) + 1}}}" if p and p[0] in _MASKS else re.escape(p)
                      for p in parts)
    return next((LEXICON[w] for w in _SINGLE_WORDS if re.fullmatch(pattern, w)), None)


def _lexical(token: str) -> str | None:
    """The base form of a token the lexicon knows, however it is disguised."""
    leet = token.translate(_LEET)
    for candidate in (token, leet):
        if candidate in LEXICON:
            return LEXICON[candidate]
        if _RUN.search(candidate):
            found = next((LEXICON[s] for s in _squeezed(candidate) if s in LEXICON), None)
            if found:
                return found
    if any(ch in _MASKS for ch in token.strip("._")):
        return _unmasked(leet.strip("._"))
    return None


def _plain(token: str) -> str:
    """A token the lexicon does not know: leetspeak undone when it is mostly letters."""
    letters = sum(ch.isalpha() for ch in token)
    if letters and (letters >= len(token) - letters or any(ch in "@$!|" for ch in token)):
        token = token.translate(_LEET)
    return _RUN.sub(r"\1", token)


def _split(token: str) -> list[str]:
    """French elisions and English contractions as tokens of their own."""
    if m := _ELISION.match(token):
        return [m.group(1) + "'", *_split(m.group(2))]
    if m := _CONTRACTION.match(token):
        return [m.group(1), m.group(2)]
    return [token]


def _tokens(raw: str) -> Iterator[str]:
    core = raw.strip("!.")
    lead = raw[:len(raw) - len(raw.lstrip("!."))]
    tail = raw[len(lead) + len(core):]
    yield from lead
    if core:
        found = _lexical(core)
        if found is not None:
            yield found
        elif "." in core:
            pieces = core.split(".")
            for i, piece in enumerate(pieces):
                if i:
                    yield "."
                yield from (_lexical(t) or _plain(t) for t in _split(piece) if t)
        else:
            yield from (_lexical(t) or _plain(t) for t in _split(core))
    yield from tail


def _join_hyphenated(match: re.Match[str]) -> str:
    """"a-hole", "f-ing", "dick-head" are words of the lexicon; "peut-être" is two words."""
    joined = match.group(0).replace("-", "")
    return joined if _lexical(joined) else match.group(0).replace("-", " ")


def _join_spaced(match: re.Match[str]) -> str:
    joined = re.sub(r"[ .\-_]", "", match.group(0))
    return joined if _lexical(joined) or joined in {"you", "your", "vous", "toi"} \
        else match.group(0)


def canonical(text: str) -> str:
    """The message as the patterns read it: folded, disguises undone, known words in their
    base form, tokens and punctuation separated by single spaces.

    >>> canonical("You're a f*cking 1D10T!!")
    "you 're a fucking idiot ! !"
    """
    folded = _fold(text)
    folded = _SPACED.sub(_join_spaced, folded)
    folded = _HYPHENATED.sub(_join_hyphenated, folded)
    folded = re.sub(r"\s*\n+\s*", " . ", folded)
    return " ".join(t for raw in _TOKEN.findall(folded) for t in _tokens(raw))


# --- patterns ------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


def _alt(words: Iterable[str]) -> str:
    """A regex alternation of literal words, longest first."""
    ordered = sorted(set(words), key=len, reverse=True)
    return "(?:" + "|".join(re.escape(w) for w in ordered) + ")"


_B, _E = r"(?<![\w'])", r"(?![\w'])"
"""Word boundaries where an apostrophe belongs to the word ("t' es", "you 're")."""
_PUNCT = r"[,;:!?.]"
_END = rf"(?= ?(?:{_PUNCT}|$))"

_POOR_SOUL = ["pauvre type", "pauvre mec", "pauvre tache", "pauvre cloche", "pauvre naze"]
_INS_EN = _alt([*(b.partition("+")[0] for b in _INSULTS_EN), "piece of shit", "piece of crap",
                "piece of garbage", "piece of trash", "son of a bitch", "sons of bitches",
                "waste of space", "waste of oxygen"])
_INS_FR_WORDS = [*(b.partition("+")[0] for b in _INSULTS_FR), "fils de pute", "trou du cul",
                 "sous merde", "tas de merde", *_POOR_SOUL]
_INS_FR = _alt([*_INS_FR_WORDS, "merde", "merdes"])
_INS_FR_NOT_MERDE = _alt([*_INS_FR_WORDS, "debile", "debiles"])
"""After "sale", "gros", "pauvre": "une grosse merde" is as often the product as a person."""
_INSADJ_EN = _alt([*_INSULT_ADJECTIVES_EN, "brain dead"])
_INSADJ_FR = _alt(_INSULT_ADJECTIVES_FR)
_VOCATIVE = _alt([*_words("""idiot moron imbecile cretin asshole arsehole bastard bitch cunt
dickhead prick twat wanker tosser bellend knobhead scumbag dumbass jackass douchebag
motherfucker fucker shithead cocksucker slut whore loser jerk halfwit connard connasse salaud
salope salopard encule enfoire abruti batard tocard bouffon pouffiasse raclure faggot"""),
                  *_POOR_SOUL])
"""Insults that, alone between punctuation marks, can only be addressed to the reader."""
_VOC_LEAD = _alt([*_words("""hey oi yo listen thanks thx ok okay bye hello hi salut merci
bonjour ecoute ecoutez allez dis reponds repondez answer reply respond"""), "thank you",
                  "answer me"])
_VOC_FILL = _alt(_words("""fucking stupid dumb bloody damn useless little big fat sale gros
grosse pauvre espece de d' bande"""))
_VOC_TAIL = r"(?: (?:the lot of you|all of you|every one of you|va)(?: [,;:!?.]|$))"

_FILL_EN = _alt(_words("""'re are r re were is 's was be being act acting sound look looking
seem like all just really truly such so seriously literally honestly nothing but a an the one
real right proper complete completely total totally absolute absolutely utter utterly bunch pack
of bloody damn goddamn fucking freaking effing frigging stupid dumb useless pathetic incompetent
worthless brainless lazy ugly fat little big sorry clueless lying thieving disgusting filthy
dirty miserable actual certified massive huge giant raging ignorant arrogant rude guys people
lot folks both two still always pieces"""))
"""What may stand between "you" and the insult: copulas, articles, intensifiers."""
_STAFF_EN = _alt([*_words("""staff team agents agent employees employee people support reps
rep representatives representative managers manager boss ceo workers colleagues owners owner
devs developers helpdesk operators operator drivers driver couriers courier"""),
                  "customer service", "support team", "support staff", "delivery guy",
                  "delivery guys", "delivery drivers", "delivery driver"])
_BOT_EN = _alt(_words("bot chatbot robot ai assistant"))
_YOU2_EN = rf"{_B}(?:you|u|ur|youre|yall|y' all)"
_YOU_EN = "|".join([
    _YOU2_EN,
    rf"{_B}(?:your|ur|yer)(?: {_FILL_EN})* {_STAFF_EN}",
    rf"{_B}(?:your|this|the|that|stupid) (?:{_FILL_EN} )*{_BOT_EN}",
    rf"{_B}whoever(?: [a-z']+){{1,4}}?",
    rf"{_B}(?:run|staffed|managed|operated|designed|made|programmed|built|packed) by",
])
"""The reader, the staff or the assistant itself as the one insulted."""

_FILL_FR = _alt(_words("""un une des de d' du la le les l' qu' que vraiment trop tellement
completement totalement franchement serieusement carrement tous toutes tout bien gros grosse
grand grande sale sales pauvre pauvres petit petite petits putain vrai vraie vrais veritable
veritables bande tas ramassis belle beau sacre sacree foutu foutue vieux vieille meme juste
rien espece autres ptn immense enorme incroyable plus encore toujours deja aussi"""))
_STAFF_FR = _alt([*_words("""bot robot chatbot assistant ia conseiller conseillers
conseillere conseilleres employe employes employee employees equipe personnel agent agents
collegues patron patrons directeur responsable responsables vendeur vendeurs vendeuse vendeuses
support sav standardiste standardistes operateur operateurs operatrice techniciens gerant"""),
                  "service client"])
_YOU2_FR = rf"{_B}(?:tu es|t' es|t es|tes|vous etes|vs etes|z' etes)"
_YOU_FR = "|".join([
    rf"{_B}(?:tu es|tu etais|t' es|t' etais|t es|tes|vous etes|vous etiez|vs etes|z' etes"
    rf"|tu n' es|vous n' etes|vous|toi)",
    rf"{_B}(?:votre|vos|ton|tes) (?:putain de |foutu |foutue |sale )?{_STAFF_FR}"
    rf"(?: de merde)? (?:est|sont|etes|c' est|ce sont)",
    rf"{_B}(?:ce|cet|cette|le|la|l') (?:{_FILL_FR} )*(?:bot|robot|chatbot|assistant|ia) "
    rf"(?:est|c' est)",
    rf"{_B}(?:gere|geree|geres|tenu|tenue|tenus|dirige|dirigee) par",
])
_PEJORATIVE_FR = r"(?:sales?|pauvres?|gros|grosse|bande d' ?|bande de|ramassis d' ?|ramassis de)"

_MOD_EN = _alt(_words("""'ll will 'm am 're are going gonna gon na to really literally fucking
swear just come coming and would 'd could can want wanna shall about seriously definitely
personally actually gladly happily should might go gotta need must then also so one day soon
make sure 've got"""))
_APPROACH_EN = (r"(?: (?:come|go|get|drive|walk|head|show up|turn up|find|track|hunt|wait for"
                r"|catch)(?: (?!not|never|n't)[a-z']+){0,4} and)")
"""Getting to the victim first: "I will find you and ...", "I'm coming down there and ..."."""
_VIOLENT_EN = _alt([*_words("""kill murder hurt stab shoot strangle choke slap punch beat bash
torture behead rape gut butcher slaughter cut burn kick attack assault harm shank end smash
break"""), "beat up", "hunt down", "beat the hell out of", "beat the shit out of",
                    "beat the crap out of", "beat the fuck out of", "kick the shit out of"])
_TARGET_EN = "|".join([
    r"you|u|ya|y' all|yall|all of you|every one of you|everyone|everybody|someone|somebody"
    r"|whoever",
    rf"your (?:{_STAFF_EN}|family|kids|wife|husband|children|mother|mom|mum|face|head|skull"
    rf"|teeth|legs|neck|jaw|nose|ass|throat)",
    rf"(?:the|that|this|those|these|every|all the) (?:{_STAFF_EN}|driver|courier|delivery guy)",
])
_NOT_A_THREAT = (r"(?! (?:an? |one |a quick |quick )?(?:e ?mail|message|mail|text|note|line|dm"
                 r"|photo|picture|pic|reply|invoice|copy|screenshot|link|check|cheque|deal"
                 r"|review|slack|to it|to the|up)\b)")
""""I'll shoot you an email", "we'll beat you to it": figures of speech, not threats."""
_WEAPON_EN = (r"(?:guns?|rifle|shotgun|pistol|bomb|explosives|weapons?)(?! (?:safe|cabinet|case"
              r"|holster|cleaning|cleaner|shaped|toy|lamp|rack|box|bag|oil|voucher|licen[cs]e))")
_PLACE_EN = r"(?:store|shop|offices?|warehouse|building|hq|headquarters|company|depot)"

_MOD_FR = _alt(_words("""vais vas va veux voudrais peux pourrais devrais venir viens finirai
par jure te vous que allons irai bien vraiment finir aller compte ai envie de d' promets"""))
_VIOLENT_FR = _alt([*_words("""tuer buter crever defoncer frapper taper tabasser egorger
planter poignarder fumer flinguer massacrer etrangler cogner violer bruler decapiter saigner
lyncher eclater dezinguer trouer latter achever"""), "casser la gueule", "peter la gueule",
                    "faire la peau", "faire du mal", "casser les dents", "casser la tete",
                    "eclater la tete", "defoncer la gueule"])
_VIOLENT_FR_NOW = _alt([*_words("""tuerai buterai defoncerai tabasserai egorgerai planterai
fumerai creverai frapperai massacrerai eclaterai flinguerai violerai brulerai decapiterai
etranglerai tue bute defonce egorge plante flingue massacre eclate tabasse"""),
                        "ferai la peau", "casserai la gueule"])
_WEAPON_FR = r"(?:armes?|flingue|fusil|pistolet|kalash|kalachnikov|bombe|explosifs)"
_PLACE_FR = (r"(?:magasin|boutique|entrepot|bureaux?|siege|agence|boite|societe|entreprise"
             r"|locaux|depot)")


def _rule(name: str, kind: str, *alternatives: str) -> tuple[str, str, re.Pattern[str]]:
    return name, kind, re.compile("|".join(f"(?:{a})" for a in alternatives))


_RULES = [
    # threats of violence, first: they hand the conversation to a human at once
    _rule("en:threat_violence", "threat",
          rf"{_B}(?:i|we|ill|im)(?: {_MOD_EN}){{0,6}}{_APPROACH_EN}?(?: {_MOD_EN}){{0,3}} "
          rf"{_VIOLENT_EN} (?:{_TARGET_EN}){_E}{_NOT_A_THREAT}"),
    _rule("en:threat_staff", "threat",
          rf"{_B}(?:your|ur|the) {_STAFF_EN}(?: [a-z']+){{0,10}} (?:i|we|ill|im)"
          rf"(?: {_MOD_EN}){{0,6}} {_VIOLENT_EN} (?:him|her|them){_E}"),
    _rule("en:threat_know_where", "threat",
          rf"{_B}(?:i|we) know where (?:you|u|ya|your \w+) (?:live|lives|work|works|sleep)",
          rf"{_B}(?:find|found) out where (?:you|u) live"),
    _rule("en:threat_dead", "threat",
          rf"{_B}(?:you|u|youre|ur) (?:'re |are |r )?(?:so |a |already )*(?:dead man|dead meat"
          rf"|dead|gonna die|going to die){_E}"
          rf"(?! (?:wrong|right|serious|set|tired|on|to|inside|end|ass))",
          rf"{_B}watch your back", rf"{_B}sleep with one eye open"),
    _rule("en:threat_place", "threat",
          rf"{_B}(?:bomb|blow up|burn|burn down|set fire to|set on fire|torch|shoot up|firebomb"
          rf"|smash up|wreck) (?:down )?(?:your|ur|the) {_PLACE_EN}",
          rf"{_B}(?:come|coming|show up|turn up|go|going|drive|walk)(?: [a-z']+){{0,7}} with "
          rf"(?:a |an |my |some )?{_WEAPON_EN}{_E}",
          rf"{_B}bring(?:ing)? (?:a |an |my |some )?{_WEAPON_EN} (?:to|into|in) (?:your|ur|the)"),
    _rule("fr:threat_violence", "threat",
          rf"{_B}(?:je|j'|on|nous|moi je)(?: {_MOD_FR}){{0,5}} (?:te|t'|vous) ?{_VIOLENT_FR}{_E}"
          r"(?! (?:un|une|des|le|les) (?:mail|message|courrier|avis|note|lettre)| sur| en avis)",
          rf"{_B}(?:je|j') (?:te|t'|vous) ?{_VIOLENT_FR_NOW}{_E}",
          rf"{_B}(?:je|j'|on|nous)(?: (?!pas|jamais|ne|n')[a-z']+){{0,6}} et (?:je )?"
          rf"(?:te|t'|vous) ?{_VIOLENT_FR}{_E}"),
    _rule("fr:threat_staff", "threat",
          rf"{_B}(?:vos|votre|ton|tes|le|la|les|l') (?:{_STAFF_FR}|livreur|livreurs|livreuse)"
          rf"(?: [a-z']+){{0,10}} (?:je|j'|on)(?: {_MOD_FR}){{0,5}} (?:le|la|les|l') ?"
          rf"(?:{_VIOLENT_FR}|{_VIOLENT_FR_NOW}){_E}"),
    _rule("fr:threat_know_where", "threat",
          rf"{_B}je sais ou (?:tu|vous|t') ?(?:habites|habitez|vis|vivez|travailles|travaillez"
          rf"|dors|dormez|creches)"),
    _rule("fr:threat_dead", "threat",
          rf"{_B}(?:t' es|tu es|vous etes|t es|tes) (?:deja )?(?:un homme |une femme "
          rf"|des hommes )?morts?{_E}(?! de)",
          rf"{_B}(?:fais|faites) gaffe a (?:toi|vous)"),
    _rule("fr:threat_place", "threat",
          rf"{_B}(?:faire sauter|faire exploser|bruler|cramer|incendier|mettre le feu (?:a|au"
          rf"|aux)|braquer|tout casser dans|tout peter dans|tirer dans|tirer sur) (?:votre |ton "
          rf"|vos |le |la |les |l' )?(?:{_PLACE_FR}|employes|personnel|vendeurs|conseillers)",
          rf"{_B}(?:venir|viens|passer|debarquer|aller|revenir)(?: [a-z']+){{0,7}} avec "
          rf"(?:un |une |mon |ma |des )?{_WEAPON_FR}{_E}(?! (?:de|d'|anti|a))"),
    # harassment: wishing death, telling someone to harm themselves
    _rule("en:harassment", "harassment",
          rf"{_B}(?:kill|hang|neck|end|unalive) (?:your ?self|yourselves|urself|ur self)",
          rf"{_B}(?:kys|go die){_E}", rf"{_B}die in a (?:fire|hole|ditch)",
          rf"{_B}(?:i )?hope (?:you|u|ya|your(?: \w+){{1,2}}) (?:die|dies|get cancer"
          rf"|gets cancer|rot|burn|burns|choke|croak|suffer)",
          rf"{_B}(?:you|u) (?:should|deserve to|need to) die{_E}",
          rf"{_B}drop dead{_E}(?! gorgeous)"),
    _rule("fr:harassment", "harassment",
          rf"{_B}(?:suicide toi|suicidez vous|pends toi|pendez vous|tue toi|tuez vous)",
          rf"{_B}(?:va te|allez vous) (?:suicider|pendre|tuer|jeter sous)",
          rf"(?:^|{_PUNCT} |{_B}(?:toi|vous|et) )(?:va|allez) (?:mourir|crever){_E}",
          rf"{_B}crevez (?:tous|toutes|en enfer)|{_B}creve en enfer",
          rf"{_B}j' espere que (?:tu|vous) (?:vas |allez )?(?:mourir|crever|creves|crevez)",
          rf"{_B}(?:tu|vous) (?:merites|meritez) de (?:mourir|crever)"),
    # sexual harassment
    _rule("en:sexual", "sexual_harassment",
          rf"{_B}send (?:me )?(?:your |some )?(?:nudes|nude pics?|naked (?:pics?|photos?))",
          rf"{_B}(?:send|show)(?: me)?(?: [a-z']+){{0,3}} (?:your|ur) (?:tits|boobs|breasts"
          rf"|pussy|dick|cock|ass|nudes){_E}",
          rf"{_B}suck my (?:dick|cock|balls)|{_B}suck me off|{_B}blow me{_E}",
          rf"{_B}sit on my (?:face|dick|cock)",
          rf"{_B}(?:i want to|i wanna|i 'd|i would|let me|i 'm going to|i 'm gonna|i will"
          rf"|i 'll) (?:fuck|bang|screw|shag|sleep with|have sex with) (?:you|u|ya){_E}",
          rf"{_B}are (?:you|u) (?:horny|wet|naked){_E}|{_B}what are (?:you|u) wearing"),
    _rule("fr:sexual", "sexual_harassment",
          rf"{_B}suce (?:ma|mon) (?:bite|queue|zob|teub)|{_B}suce moi{_E}",
          rf"{_B}montre (?:moi )?(?:tes|vos) (?:seins|nichons|fesses|nibards|nudes)",
          rf"{_B}envoie (?:moi )?(?:des|tes|vos) (?:nudes|photos? (?:nue|nues|de toi nue?))",
          rf"{_B}(?:je|j') (?:veux|vais|voudrais) (?:te|vous) (?:baiser|sauter|violer)",
          rf"{_B}(?:coucher|baiser) avec (?:toi|vous)",
          rf"{_B}(?:t' es|tu es|t es) (?:trop |tellement |vraiment )?(?:bonne|chaude){_END}"),
    # slurs, whoever they are aimed at
    _rule("slur", "slur", rf"{_B}{_alt(_SLURS_ALWAYS)}s?{_E}"),
    _rule("fr:slur_origin", "slur",
          rf"(?:^|{_PUNCT} |{_B}(?:espece de|t' es un|tu es un|vous etes des|bande de) )sales? "
          rf"(?:arabe|noir|negre|juif|chinetoque|bicot|gitan|gouine)s?{_E}"),
    # insults aimed at the reader, the staff or the assistant
    _rule("en:insult_phrase", "insult",
          rf"(?<!the ){_B}fuck (?:you|u|ya|off|yourself|yourselves){_E}",
          rf"{_B}fuck your (?:mother|mom|mum|family|company|staff|team|bot){_E}",
          rf"{_B}go (?:fuck|screw|f) (?:yourself|yourselves)|{_B}screw (?:you|u){_E}",
          rf"{_B}(?:stfu|gfy){_E}|{_B}shut the (?:fuck |f |fk |hell |heck )up",
          rf"{_B}shut your (?:fucking )?(?:mouth|face|trap|pie hole)",
          rf"{_B}(?:eat shit|kiss my (?:ass|arse)|bite me|up yours|go to hell|get fucked"
          rf"|piss off|bugger off|sod off){_E}"),
    _rule("fr:insult_phrase", "insult",
          rf"{_B}(?:ferme )?ta gueule",
          rf"{_B}(?:va|allez) (?:te|vous) faire (?:foutre|enculer|voir|mettre|cuire un oeuf)",
          rf"{_B}(?:va|allez) chier|{_B}(?:je|j') (?:t' |vous )emmerde",
          rf"{_B}nique(?:r|z)? (?:ta|votre|vos) (?:mere|meres|race|soeur)|{_B}nique toi{_E}",
          rf"{_B}(?:casse toi|cassez vous|ta mere la pute){_E}",
          rf"{_B}(?:va|allez) (?:au diable|en enfer)|^tg ?(?:[!.]|$)"),
    _rule("en:insult_you", "insult",
          rf"(?:{_YOU_EN})(?: (?:{_FILL_EN}|[a-z']+ (?:and|or))){{0,6}} {_INS_EN}{_E}",
          rf"{_B}(?:what|such) (?:a|an) (?:{_FILL_EN} )*{_INS_EN} (?:you|u) (?:are|r|'re|re)"
          rf"{_E}"),
    _rule("en:insult_are_you", "insult",
          rf"{_B}(?:are|r) (?:you|u)(?: {_FILL_EN}){{0,4}} (?:{_INS_EN}|{_INSADJ_EN}){_E}"),
    _rule("en:insult_you_adjective", "insult",
          rf"{_YOU2_EN}(?: {_FILL_EN}){{0,5}} {_INSADJ_EN}{_E}"),
    _rule("fr:insult_you", "insult",
          rf"(?:{_YOU_FR})(?: (?:{_FILL_FR}|[a-z']+ (?:et|ou))){{0,6}} {_INS_FR}{_E}",
          rf"{_B}quel(?:le)?s? (?:{_FILL_FR} )*{_INS_FR} (?:tu fais|vous faites|tu es|t' es"
          rf"|vous etes){_E}",
          rf"{_B}espece d(?:' ?|e )(?:{_FILL_FR} )?{_INS_FR}{_E}",
          rf"{_B}{_PEJORATIVE_FR} ?{_INS_FR_NOT_MERDE}{_E}"),
    _rule("fr:insult_you_adjective", "insult",
          rf"{_YOU2_FR}(?: {_FILL_FR}){{0,4}} {_INSADJ_FR}{_E}"),
    _rule("vocative", "insult",
          rf"(?:^|{_PUNCT} |{_B}{_VOC_LEAD} )(?:{_VOC_FILL} ){{0,3}}{_VOCATIVE}(?: de merde)?"
          rf"(?:{_END}|(?={_VOC_TAIL}))"),
]
"""(name, kind, pattern), tried in order on the canonical form; a name says the language
the rule reads ("en:", "fr:") and what it looks for."""

_GO_DIE = re.compile(r"(?:^|[,;:!?.]\s*)crève(?:z)?\s*(?:[,;:!?.]|$|sale\b|en enfer|connard|"
                     r"charogne|ordure)")
""""Crève !" (die) and "Crevé !" (worn out) differ by an accent, so this one rule reads the
message before accents are folded away."""

_FRUSTRATED_WORDS = frozenset(_PROFANITY) | frozenset(_FRUSTRATION)
_FRUSTRATED_PHRASES = re.compile(
    r"\b(fed up|sick of|tired of|rip off|what the hell|ras le bol|en ai marre|n' importe quoi"
    r"|fait chier|foutage de gueule|c' est une blague|se fout|vous foutez)\b")


_ENGLISH_INSULTS = frozenset(b.partition("+")[0] for b in _INSULTS_EN)


def is_frustrated(text: str, form: str | None = None) -> bool:
    """Swearing, anger or exasperation: a complaint to take seriously, not abuse."""
    form = canonical(text) if form is None else form
    words = set(form.split())
    letters = [ch for ch in text if ch.isalpha()]
    shouting = len(letters) >= 12 and sum(ch.isupper() for ch in letters) >= 0.7 * len(letters)
    return bool(words & _FRUSTRATED_WORDS) or bool(_FRUSTRATED_PHRASES.search(form)) or \
        "!!" in text or "?!" in text or shouting or bool(words & _ENGLISH_INSULTS)


def detect_abuse(text: str) -> AbuseVerdict:
    """The first rule that matches, threats first; else whether the customer sounds
    frustrated."""
    form = canonical(text)
    for name, kind, pattern in _RULES:
        match = pattern.search(form)
        if match is None:
            continue
        if kind == "insult" and set(match.group(0).split()) & _SLURS:
            kind = "slur"
        return AbuseVerdict(kind, name, frustrated=True)
    if _GO_DIE.search(unicodedata.normalize("NFKC", text).casefold()):
        return AbuseVerdict("harassment", "fr:harassment_die", frustrated=True)
    return AbuseVerdict(None, frustrated=is_frustrated(text, form))
