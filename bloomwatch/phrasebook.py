"""Templated sentiment sentences in each language BloomWatch ships a demo for.

Two users of the same sentences: the built-in corpus a first model trains on when there is no
data at all (training/synthetic.py), and the demo stream's reviews in other languages
(streams/demo.py), so a fresh `bloomwatch up` shows how documents in each language are read or
left unscored. Clearly synthetic: a subject and a verdict, never a quality claim.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Phrasebook:
    subjects: tuple[str, ...]  # as they start a sentence, except English's (lower-case, capitalised on use)
    phrases: dict[str, tuple[str, ...]]  # label -> verdicts
    separator: str = " "  # between subject and verdict: none in Chinese
    end: str = "."

    def sentence(self, rng: random.Random, label: str | None = None) -> tuple[str, str]:
        """(a sentence, its sentiment label): of `label`, or of one drawn at random."""
        label = label or rng.choice(list(self.phrases))
        return self._compose(rng.choice(self.subjects), rng.choice(self.phrases[label])), label

    def every_sentence(self) -> list[tuple[str, str]]:
        """(sentence, label) for every subject with every verdict: the whole phrasebook, in order."""
        return [
            (self._compose(subject, verdict), label)
            for label, verdicts in self.phrases.items()
            for subject in self.subjects
            for verdict in verdicts
        ]

    def _compose(self, subject: str, verdict: str) -> str:
        return f"{subject[0].upper()}{subject[1:]}{self.separator}{verdict}{self.end}"


PHRASEBOOKS: dict[str, Phrasebook] = {
    "en": Phrasebook(
        ("the film", "this phone", "the hotel", "our order", "the service", "the company's results", "the update",
         "the new menu"),
        {
            "negative": ("was terrible", "is a huge disappointment", "broke after two days", "was slow and rude",
                         "fell short of every expectation", "is the worst I have tried", "left us angry",
                         "reported a painful loss"),
            "neutral": ("was released on Tuesday", "is available in three colours", "will be reviewed next quarter",
                        "has a new address", "was discussed at the meeting", "is described in the report",
                        "opens at nine", "lists the usual features"),
            "positive": ("was wonderful", "exceeded every expectation", "is the best I have tried",
                         "made us very happy", "works beautifully", "delivered record growth", "is fast and friendly",
                         "is a real delight"),
        },
    ),
    "zh": Phrasebook(
        ("这部电影", "这款手机", "这家酒店", "我们的订单", "他们的服务", "这次更新", "新菜单", "客服"),
        {
            "negative": ("太糟糕了", "让人非常失望", "两天就坏了", "又慢又没礼貌", "是我用过最差的", "让我们很生气",
                         "完全没用", "简直是一场灾难"),
            "neutral": ("周二发布", "有三种颜色可选", "下个季度再审核", "换了新地址", "在会议上讨论过", "在报告里有说明",
                        "九点开门", "有常规的功能"),
            "positive": ("太棒了", "超出了所有期望", "是我用过最好的", "让我们非常开心", "非常好用", "又快又热情",
                         "真让人高兴", "非常出色"),
        },
        separator="",
        end="。",
    ),
    "de": Phrasebook(
        ("der Film", "dieses Handy", "das Hotel", "unsere Bestellung", "der Service", "das Update",
         "die neue Speisekarte", "der Kundendienst"),
        {
            "negative": ("war furchtbar", "ist eine große Enttäuschung", "ging nach zwei Tagen kaputt",
                         "war langsam und unfreundlich", "ist das Schlechteste, was ich je probiert habe",
                         "hat uns wütend gemacht", "ist völlig nutzlos", "war eine Katastrophe"),
            "neutral": ("wurde am Dienstag veröffentlicht", "ist in drei Farben erhältlich",
                        "wird im nächsten Quartal geprüft", "hat eine neue Adresse", "wurde in der Sitzung besprochen",
                        "steht im Bericht", "öffnet um neun Uhr", "hat die üblichen Funktionen"),
            "positive": ("war wunderbar", "hat alle Erwartungen übertroffen",
                         "ist das Beste, was ich je probiert habe", "hat uns sehr glücklich gemacht",
                         "funktioniert hervorragend", "ist schnell und freundlich", "ist eine echte Freude",
                         "war ausgezeichnet"),
        },
    ),
    "es": Phrasebook(
        ("la película", "este teléfono", "el hotel", "nuestro pedido", "el servicio", "la actualización",
         "el nuevo menú", "la atención al cliente"),
        {
            "negative": ("fue terrible", "es una gran decepción", "se rompió a los dos días", "tardó muchísimo",
                         "es lo peor que he probado", "nos dejó muy enfadados", "no sirve para nada",
                         "fue un desastre"),
            "neutral": ("salió a la venta el martes", "está disponible en tres colores",
                        "se revisará el próximo trimestre", "tiene una nueva dirección", "se trató en la reunión",
                        "se describe en el informe", "abre a las nueve", "tiene las funciones habituales"),
            "positive": ("fue una maravilla", "superó todas las expectativas", "es lo mejor que he probado",
                         "nos hizo muy felices", "funciona de maravilla", "llegó rápido y en perfecto estado",
                         "es una verdadera delicia", "fue excelente"),
        },
    ),
    "fr": Phrasebook(
        ("le film", "ce téléphone", "l'hôtel", "notre commande", "le service", "la mise à jour", "le nouveau menu",
         "le service client"),
        {
            "negative": ("était horrible", "est une énorme déception", "est tombé en panne après deux jours",
                         "était lent et désagréable", "est le pire que j'ai essayé", "nous a mis en colère",
                         "ne sert à rien", "était une catastrophe"),
            "neutral": ("est sorti mardi", "existe en trois couleurs", "sera examiné au prochain trimestre",
                        "a une nouvelle adresse", "a été discuté à la réunion", "est décrit dans le rapport",
                        "ouvre à neuf heures", "a les fonctions habituelles"),
            "positive": ("était merveilleux", "a dépassé toutes nos attentes", "est le meilleur que j'ai essayé",
                         "nous a rendus très heureux", "fonctionne parfaitement", "est rapide et agréable",
                         "est un vrai bonheur", "était excellent"),
        },
    ),
}  # fmt: skip
LANGUAGES = tuple(PHRASEBOOKS)
