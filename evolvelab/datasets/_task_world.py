"""The invented world behind the generated task streams: families, sub-procedures, pitfalls.

Everything here is written for EvolveLab. A **family** (household chores, tool-use
recipes, small puzzles) has goal templates; a goal is a sequence of **sub-problems**,
each a skill with one of its variants (``heat/microwave``, ``heat/stove``). A variant
has one correct procedure and one pitfall: a wrong step that ends the episode, with
the reason it failed. Two variants of the same skill look alike in text (the same
objects, the same verb) but need different procedures; that is what makes an earlier
episode misleading.

Step templates are ``(kind, text)`` pairs; ``{obj}``, ``{place}``, ``{who}``, ``{data}``
and ``{n}`` are filled from the task's slots. Kinds are ``action``, ``tool`` (a tool
call) and ``observation``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAMILIES", "Family", "Goal", "Variant"]

Step = tuple[str, str]


@dataclass(frozen=True)
class Variant:
    """One way to do a skill: its correct steps, and the pitfall that fails it."""

    skill: str
    name: str
    steps: tuple[Step, ...]
    pitfall: tuple[Step, ...]
    reason: str

    @property
    def key(self) -> str:
        """The sub-problem's name, e.g. ``heat/microwave``."""
        return f"{self.skill}/{self.name}"


@dataclass(frozen=True)
class Goal:
    """A goal template: its text and the skills it needs, in order."""

    text: str
    skills: tuple[str, ...]


@dataclass(frozen=True)
class Family:
    """A task family: slot values, goal templates and the variants of each skill."""

    name: str
    slots: dict[str, tuple[str, ...]]
    goals: tuple[Goal, ...]
    variants: tuple[Variant, ...]
    routine: frozenset[str] = frozenset()
    """Skills nearly every goal of the family needs (placing an item, logging in): they are
    carried out in episodes but neither help nor mislead in the annotations."""

    def of(self, skill: str) -> list[Variant]:
        """Return the variants of ``skill``."""
        return [v for v in self.variants if v.skill == skill]


def _v(skill: str, name: str, steps: list[Step], pitfall: list[Step], reason: str) -> Variant:
    return Variant(skill, name, tuple(steps), tuple(pitfall), reason)


A, T, O = "action", "tool", "observation"

HOUSEHOLD = Family(
    name="household",
    slots={
        "obj": ("mug", "apple", "plate", "bowl", "potato", "cup", "egg", "tomato"),
        "place": ("cabinet", "drawer", "countertop", "shelf", "dining table"),
    },
    goals=(
        Goal("heat the {obj} with the {heat} and put it on the {place}", ("heat", "place")),
        Goal("put a cool {obj} on the {place}, chilled with the {cool}", ("cool", "place")),
        Goal("clean the {obj} at the {clean} and put it on the {place}", ("clean", "place")),
        Goal("slice the {obj}, heat it with the {heat}, then put it on the {place}",
             ("slice", "heat", "place")),  # fmt: skip
        Goal("clean the {obj} at the {clean}, chill it with the {cool}, store it on the {place}",
             ("clean", "cool", "place")),  # fmt: skip
    ),
    variants=(
        _v("heat", "microwave",
           [(A, "go to the microwave"), (A, "open the microwave"),
            (A, "put the {obj} in the microwave"), (A, "close the microwave and heat for 2 minutes"),
            (O, "the {obj} is hot"), (A, "take the {obj} from the microwave")],
           [(A, "go to the microwave"), (A, "put the {obj} in the microwave"),
            (O, "nothing happens")],
           "the microwave door was closed: open it before putting anything in"),
        _v("heat", "stove",
           [(A, "go to the stove"), (A, "put the {obj} in a pan on the stove"),
            (A, "turn on the burner"), (O, "the {obj} is hot"), (A, "turn off the burner"),
            (A, "take the {obj} from the pan")],
           [(A, "go to the stove"), (A, "put the {obj} in a pan on the stove"),
            (A, "turn on the burner"), (A, "take the {obj} from the pan")],
           "the burner was left on: the safety check failed the task"),
        _v("cool", "fridge",
           [(A, "go to the fridge"), (A, "open the fridge"), (A, "put the {obj} in the fridge"),
            (A, "close the fridge and wait"), (O, "the {obj} is cool"),
            (A, "take the {obj} from the fridge")],
           [(A, "go to the fridge"), (A, "put the {obj} in the freezer drawer"),
            (O, "the {obj} is frozen solid")],
           "the freezer froze the item: use the fridge compartment"),
        _v("cool", "ice bath",
           [(A, "go to the sink"), (A, "fill a bowl with ice water"),
            (A, "put the {obj} in the ice water"), (O, "the {obj} is cool"),
            (A, "dry the {obj} with a towel")],
           [(A, "go to the sink"), (A, "put the {obj} under the hot tap"),
            (O, "the {obj} is warm")],
           "the hot tap warmed it: an ice bath needs ice water"),
        _v("clean", "sink",
           [(A, "go to the sink"), (A, "put the {obj} in the sink basin"),
            (A, "turn on the faucet"), (A, "turn off the faucet"), (O, "the {obj} is clean"),
            (A, "take the {obj} from the sink basin")],
           [(A, "go to the sink"), (A, "put the {obj} in the sink basin"),
            (A, "take the {obj} from the sink basin"), (O, "the {obj} is still dirty")],
           "the item was never rinsed: turn the faucet on and off"),
        _v("clean", "dishwasher",
           [(A, "go to the dishwasher"), (A, "open the dishwasher"),
            (A, "put the {obj} in the top rack"), (A, "close the dishwasher and run a quick cycle"),
            (O, "the {obj} is clean"), (A, "take the {obj} from the dishwasher")],
           [(A, "go to the dishwasher"), (A, "open the dishwasher"),
            (A, "put the {obj} in the cutlery basket"), (O, "the {obj} fell through")],
           "the item fell through the cutlery basket: use the top rack"),
        _v("slice", "knife",
           [(A, "go to the countertop"), (A, "take the knife"),
            (A, "slice the {obj} with the knife"), (O, "the {obj} is sliced"),
            (A, "put down the knife")],
           [(A, "go to the countertop"), (A, "slice the {obj}"),
            (O, "you need to hold a knife")],
           "slicing needs the knife in hand: take the knife first"),
        _v("place", "closed",
           [(A, "go to the {place}"), (A, "open the {place}"), (A, "put the {obj} in the {place}"),
            (A, "close the {place}")],
           [(A, "go to the {place}"), (A, "put the {obj} in the {place}"),
            (O, "nothing happens")],
           "the receptacle was closed: open it first"),
        _v("place", "open",
           [(A, "go to the {place}"), (A, "clear a space on the {place}"),
            (A, "put the {obj} on the {place}")],
           [(A, "go to the {place}"), (A, "open the {place}"), (O, "nothing happens"),
            (A, "put the {obj} in the sink")],
           "the item was left in the wrong place: the receptacle has no door"),
    ),
    routine=frozenset({"place"}),
)

TOOLS = Family(
    name="tools",
    slots={
        "data": ("sales", "inventory", "signups", "refunds", "support tickets", "invoices"),
        "who": ("Maya", "Omar", "the finance team", "Lena", "the ops channel"),
        "place": ("weekly report", "dashboard", "quarterly review"),
    },
    goals=(
        Goal("download the {data} export via the {fetch} and email a {convert} to {who}",
             ("auth", "fetch", "convert", "send")),  # fmt: skip
        Goal("pull the {data} records via the {fetch}, make a {convert} for the {place}, "
             "and post it to {who} on {send}", ("auth", "fetch", "convert", "send")),
        Goal("send {who} the {data} numbers as a {convert} over {send}",
             ("fetch", "convert", "send")),
        Goal("refresh the {place} with {data} from the {fetch}", ("auth", "fetch", "convert")),
    ),
    variants=(
        _v("auth", "oauth",
           [(T, "auth.token(client='reports', scope='read')"), (O, "token issued, expires in 3600 s"),
            (A, "attach the bearer token to every request")],
           [(T, "auth.token(client='reports', scope='write')"), (O, "403 insufficient scope")],
           "the token asked for the wrong scope: read access is enough"),
        _v("auth", "api key",
           [(T, "vault.read('api-key/reports')"), (O, "key found, rotated yesterday"),
            (A, "send the key in the X-Api-Key header")],
           [(A, "reuse the api key from the old config file"), (O, "401 unauthorized")],
           "the old api key had expired: read the current one from the vault"),
        _v("fetch", "csv export",
           [(T, "files.download('{data}.csv')"), (O, "downloaded 212 rows"),
            (T, "table.parse(delimiter=';')"), (O, "12 columns parsed")],
           [(T, "files.download('{data}.csv')"), (T, "table.parse(delimiter=',')"),
            (O, "1 column parsed")],
           "the export uses semicolons: parse with delimiter ';'"),
        _v("fetch", "paged api",
           [(T, "api.list('{data}', page=1)"), (O, "50 records, next page token"),
            (A, "follow the next page token until it is empty"), (O, "212 records in 5 pages")],
           [(T, "api.list('{data}', page=1)"), (O, "50 records, next page token"),
            (A, "stop after the first page")],
           "only the first page was read: follow the page tokens"),
        _v("convert", "chart",
           [(T, "chart.render(type='bar', x='week', y='total')"), (O, "chart.png written"),
            (A, "check that the axis labels are readable")],
           [(T, "chart.render(type='pie', x='week', y='total')"), (O, "chart with 52 slices")],
           "a pie chart of weekly totals was unreadable: use a bar chart by week"),
        _v("convert", "pdf summary",
           [(T, "doc.render(template='summary', format='pdf')"), (O, "summary.pdf written"),
            (T, "doc.check_fonts()"), (O, "fonts embedded")],
           [(T, "doc.render(template='summary', format='html')"), (O, "summary.html written")],
           "the recipient needed a PDF, not HTML"),
        _v("send", "email",
           [(T, "files.upload('{data} report')"), (O, "upload id f-118"),
            (T, "mail.send(to='{who}', attachment='f-118')"), (O, "message queued")],
           [(T, "mail.send(to='{who}', attachment='local path')"), (O, "attachment missing")],
           "the attachment was never uploaded: upload it and attach the upload id"),
        _v("send", "chat",
           [(T, "chat.lookup_channel('{who}')"), (O, "channel id C042"),
            (T, "chat.post(channel='C042', file='{data} report')"), (O, "posted")],
           [(T, "chat.post(channel='{who}', file='{data} report')"), (O, "channel_not_found")],
           "channel names must be resolved to ids first"),
    ),
    routine=frozenset({"auth"}),
)

PUZZLES = Family(
    name="puzzles",
    slots={
        "obj": ("red", "blue", "green", "amber"),
        "place": ("lighthouse", "mill", "boathouse", "tower"),
        "n": ("3", "4", "5"),
    },
    goals=(
        Goal("at the {place}, measure exactly {n} litres with the {jug} jugs", ("jug",)),
        Goal("cross the river at the {place} with the {crossing} cargo, then open the {lock} lock",
             ("crossing", "lock")),  # fmt: skip
        Goal("move the {obj} disc tower at the {place} ({hanoi}), then open the {lock} lock",
             ("hanoi", "lock")),  # fmt: skip
        Goal("measure {n} litres with the {jug} jugs and carry them across ({crossing})",
             ("jug", "crossing")),  # fmt: skip
    ),
    variants=(
        _v("jug", "3 and 5 litre",
           [(A, "fill the 5 litre jug"), (A, "pour the 5 litre jug into the 3 litre jug"),
            (A, "empty the 3 litre jug"), (A, "pour the 5 litre jug into the 3 litre jug"),
            (A, "fill the 5 litre jug"), (A, "top up the 3 litre jug from the 5 litre jug"),
            (O, "the 5 litre jug holds the amount")],
           [(A, "fill the 3 litre jug"), (A, "pour the 3 litre jug into the 5 litre jug"),
            (A, "fill the 3 litre jug"), (O, "out of moves")],
           "starting from the small jug runs out of moves: fill the large jug first"),
        _v("jug", "4 and 9 litre",
           [(A, "fill the 9 litre jug"), (A, "pour the 9 litre jug into the 4 litre jug twice, "
            "emptying the 4 litre jug between"), (O, "1 litre left in the 9 litre jug"),
            (A, "move the 1 litre into the 4 litre jug and refill the 9 litre jug"),
            (A, "top up the 4 litre jug"), (O, "the 9 litre jug holds the amount")],
           [(A, "fill the 4 litre jug twice into the 9 litre jug"), (O, "8 litres, not the amount"),
            (A, "give up")],
           "pouring the small jug in twice overshoots: work down from the 9 litre jug"),
        _v("crossing", "wolf goat cabbage",
           [(A, "take the goat across"), (A, "return alone"), (A, "take the wolf across"),
            (A, "bring the goat back"), (A, "take the cabbage across"), (A, "return alone"),
            (A, "take the goat across"), (O, "everything is across")],
           [(A, "take the wolf across"), (O, "the goat ate the cabbage")],
           "the goat cannot be left with the cabbage: take the goat first"),
        _v("crossing", "two guards",
           [(A, "ask one guard what the other would say"), (O, "the answer points left"),
            (A, "take the right bridge"), (O, "across safely")],
           [(A, "ask one guard which bridge is safe"), (A, "take the bridge he names"),
            (O, "the bridge was unsafe")],
           "one guard lies: ask what the other guard would say and take the opposite"),
        _v("hanoi", "three discs",
           [(A, "move the small disc to the target peg"), (A, "move the middle disc to the spare peg"),
            (A, "move the small disc onto the middle disc"), (A, "move the large disc to the target"),
            (A, "move the small disc to the first peg"), (A, "move the middle disc onto the large"),
            (A, "move the small disc onto the middle"), (O, "the tower is moved in 7 moves")],
           [(A, "move the small disc to the spare peg"), (A, "move the middle disc to the target"),
            (A, "move the small disc onto the middle disc"), (O, "the large disc is blocked")],
           "with an odd number of discs the smallest disc goes to the target peg first"),
        _v("hanoi", "four discs",
           [(A, "move the small disc to the spare peg"), (A, "move the second disc to the target"),
            (A, "move the small disc onto the second disc"), (A, "move the third disc to the spare"),
            (A, "repeat the three-disc pattern onto the spare peg, then move the large disc"),
            (O, "the tower is moved in 15 moves")],
           [(A, "move the small disc to the target peg"), (A, "move the second disc to the spare"),
            (O, "the tower ends on the wrong peg")],
           "with an even number of discs the smallest disc goes to the spare peg first"),
        _v("lock", "clue grid",
           [(A, "list the clues: one digit right and well placed, one right but misplaced"),
            (A, "eliminate digits from the clue with nothing correct"),
            (A, "fix the well placed digit first, then place the misplaced ones"),
            (O, "the lock opens")],
           [(A, "try digits from the first clue in order"), (O, "the lock jams after 3 tries")],
           "guessing in order jams the lock: eliminate with the nothing-correct clue first"),
        _v("lock", "parity dial",
           [(A, "read the dial: odd positions must sum to the even ones"),
            (A, "set the middle digit to balance the sums"), (O, "the lock opens")],
           [(A, "set every digit to the same value"), (O, "the dial resets")],
           "equal digits break the parity rule: balance odd and even positions"),
    ),
)

FAMILIES: dict[str, Family] = {f.name: f for f in (HOUSEHOLD, TOOLS, PUZZLES)}
"""Every task family, by name."""
