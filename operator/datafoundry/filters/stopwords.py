"""Per-language word profiles for the quality filter: stop words, word-length bounds, scripts.

Gopher (Rae et al. 2021) keeps a document only if it has at least two of the English stop words
"the, be, to, of, and, that, have, with" and a mean word length of 3 to 10 characters. Those two
rules only make sense for the language they were made for, so each language here has its own
profile:

* **Stop words** exist for en, ko, de, fr, es, it, pt, nl, ru, uk, pl, sv, tr, id and vi: the most
  frequent function words of the language. The English list is Gopher's eight words plus other
  frequent function words (a, is, in, for, ...): a superset only ever keeps more text, and it lets the
  rule judge fields of a few sentences where Gopher judged documents of 50 words or more.
  Other languages have no list: the stop-word rule is skipped for them.
* **Korean** attaches particles to the word before them (an eojeol such as 서울은 or 학교에서), so a
  Korean token counts as a stop word when it *is* a listed function word (그리고, 하지만, 그, 것, 수,
  있다, 합니다, ...) or when it *ends* with a listed particle (은, 는, 이, 가, 을, 를, 에, 의, 와, 과,
  도, 로, 으로, 에서, ...) after at least one other syllable.
* **Mean word length** bounds are Gopher's 3-10 for English and languages like it, wider where the
  language has long words (de up to 15 as in FineWeb-2, ru/uk/pl/sv/id/fr up to 11, tr up to 14),
  and 1.5-6 Hangul syllables per eojeol for Korean (measured on real Korean text: 2.5-4.5).
  Languages without a profile get lenient bounds of 2-15.
* **No spaces**: Chinese, Japanese, Thai, Lao, Khmer and Burmese do not separate words with spaces;
  word rules (stop words, mean word length, word n-gram repetition) are skipped for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Gopher's English stop words (Rae et al. 2021, appendix A.1.1).
GOPHER_STOP_WORDS: frozenset[str] = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})

_EN = (
    "the be to of and that have with "
    "a an is are was were been being am it its this these those in on at by for from as or but not "
    "no nor if then than so can could will would shall should may might must do does did has had "
    "you your we our they their them he she his her him i me my there here what which who whom "
    "when where why how all any some each more most other such only also into about over after "
    "before between through under up out very just"
)
_DE = (
    "der die das und ist nicht mit von zu den dem des ein eine einen einem einer es sich auf für im "
    "in als auch an bei oder wie wir ich sie er sind war wird werden kann nur noch aber wenn dass "
    "nach aus um so zum zur man hat haben"
)
_FR = (
    "le la les de des du et est un une en que qui dans pour pas sur au aux par avec ce cette ces il "
    "elle ils elles nous vous ne se sont plus mais ou où on son sa ses leur leurs lui y a être avoir "
    "l d qu n s c j"
)
_ES = (
    "el la los las de del y que en un una es por con para no se lo al como más su sus pero o este "
    "esta estos estas ser son está están fue hay le les me mi ya muy también sin sobre entre"
)
_IT = (
    "il lo la i gli le di del della dei delle e che è un una in per con non si da al alla sono come "
    "ma o anche questo questa più nel nella ha hanno essere era suo sua loro l"
)
_PT = (
    "o a os as de do da dos das e que em um uma é para com não se por no na nos nas ao mais como mas "
    "ou foi ser são está seu sua seus suas este esta isso também pelo pela"
)
_NL = (
    "de het een en van in is dat op te met voor niet zijn er die aan ook als bij om maar door of "
    "naar dan wordt worden kan was hij zij we ik je u deze dit"
)
_RU = (
    "и в не на что с по как это к он она они из за для от до но так же то мы вы я у о а бы был "
    "была были быть есть или если уже только его ее её их при"
)
_UK = (
    "і в у на не що з та до як це за для від але або його її їх ми ви я він вона вони є був була "
    "були бути при про так же то чи"
)
_PL = (
    "i w na z się nie to że do jest o jak co po ale od przez dla za są być był była by czy tak już "
    "jego jej ich ten ta te"
)
_SV = (
    "och i att det som en på är av för med till den inte har de ett om var men kan så eller från "
    "vid sig han hon vi jag du"
)
_TR = (
    "ve bir bu da de için ile çok ne daha gibi olan olarak en ama veya şu o ki mi her kadar sonra "
    "göre değil var yok"
)
_ID = (
    "yang dan di ini itu dengan untuk dari dalam tidak ke akan pada juga adalah atau oleh sebagai "
    "bisa ada saya kami kita mereka dia"
)
_VI = (
    "và của là có trong được cho không những một các với này người đã khi thì để cũng như từ "
    "đến về nhưng hoặc"
)

#: Korean function words, matched as whole tokens.
_KO_WORDS = (
    "그리고 그러나 하지만 그런데 그래서 따라서 그러므로 또는 또한 및 또 즉 만약 "
    "그 이 저 것 수 등 때 중 더 잘 안 못 왜 어떻게 무엇 "
    "같은 위해 통해 대한 대해 위한 있다 있는 있고 있습니다 있어요 없다 없는 없습니다 "
    "합니다 한다 하는 하고 하면 해요 했다 했습니다 된다 됩니다 되는 입니다 이다 아닙니다 "
    "우리 저는 나는 이것 그것 여기 거기 모든 어떤 이런 그런 "
    "은 는 이 가 을 를 에 의 와 과 도 로 으로 에서"
)
#: Korean particles, matched as the ending of a token (eojeol) after at least one other syllable.
_KO_PARTICLES = (
    "은 는 이 가 을 를 에 의 와 과 도 로 으로 에서 에게 께서 한테 까지 부터 보다 처럼 만 "
    "이나 에는 에서는 으로는 로는 에도 에서도 와는 과는 이라는 라는 이란 란"
)

_LATIN = "a-zA-Z\u00c0-\u024f\u1e00-\u1eff"
_CYRILLIC = "\u0400-\u04ff"
_HANGUL = "\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f"
#: Scripts written without spaces between words: one character is one word.
NO_SPACE_CHARS = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
NO_SPACE_LANGUAGES: frozenset[str] = frozenset({"zh", "ja", "th", "lo", "km", "my"})


@dataclass(frozen=True, slots=True)
class LanguageProfile:
    """How the word rules read one language (a ``None`` field: the rule is skipped)."""

    language: str
    stop_words: frozenset[str] = frozenset()
    stop_suffixes: tuple[str, ...] = ()
    mean_word_length: tuple[float, float] = (2.0, 15.0)
    #: letters of the language's script (a regex class body); words of other scripts are not judged
    script: str | None = None
    spaces: bool = True
    #: FineWeb counts lines of up to 30 characters as short; dense scripts say more per character
    short_line_chars: int = 30
    script_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @property
    def latin(self) -> bool:
        return self.script == _LATIN


def _profile(
    language: str,
    words: str = "",
    *,
    suffixes: str = "",
    bounds: tuple[float, float] = (3.0, 10.0),
    script: str | None = _LATIN,
    short_line_chars: int = 30,
) -> LanguageProfile:
    return LanguageProfile(
        language=language,
        stop_words=frozenset(words.split()),
        stop_suffixes=tuple(sorted(set(suffixes.split()), key=len, reverse=True)),
        mean_word_length=bounds,
        script=script,
        short_line_chars=short_line_chars,
        script_re=re.compile(f"[{script}]+") if script else None,
    )


PROFILES: dict[str, LanguageProfile] = {
    p.language: p
    for p in (
        _profile("en", _EN),
        _profile("de", _DE, bounds=(3.0, 15.0)),
        _profile("fr", _FR, bounds=(2.0, 11.0)),
        _profile("es", _ES),
        _profile("it", _IT),
        _profile("pt", _PT),
        _profile("nl", _NL, bounds=(3.0, 11.0)),
        _profile("ru", _RU, bounds=(3.0, 11.0), script=_CYRILLIC),
        _profile("uk", _UK, bounds=(3.0, 11.0), script=_CYRILLIC),
        _profile("pl", _PL, bounds=(3.0, 11.0)),
        _profile("sv", _SV, bounds=(3.0, 11.0)),
        _profile("tr", _TR, bounds=(3.0, 14.0)),
        _profile("id", _ID, bounds=(3.0, 11.0)),
        _profile("vi", _VI, bounds=(2.0, 11.0)),
        _profile("ko", _KO_WORDS, suffixes=_KO_PARTICLES, bounds=(1.5, 6.0), script=_HANGUL, short_line_chars=15),
    )
}

#: Languages with a stop-word list.
STOP_WORD_LANGUAGES: tuple[str, ...] = tuple(sorted(code for code, p in PROFILES.items() if p.stop_words))


def profile_for(language: str | None) -> LanguageProfile:
    """The profile of a BCP 47 tag (``en-US`` -> ``en``); a lenient one for other languages."""
    code = (language or "en").strip().replace("_", "-").split("-")[0].lower()
    if code in PROFILES:
        return PROFILES[code]
    if code in NO_SPACE_LANGUAGES:
        return LanguageProfile(language=code, spaces=False, short_line_chars=15)
    return LanguageProfile(language=code)


def same_script_stop_words(profile: LanguageProfile) -> frozenset[str]:
    """The stop words of every other language written in the same script as ``profile``'s."""
    if profile.script is None:
        return frozenset()
    return frozenset().union(
        *(p.stop_words for p in PROFILES.values() if p.script == profile.script and p is not profile)
    )
