"""Built-in vocabulary of the synthetic PersonaMem generator: personas, topics, activities, reasons.

Pure data. Placeholders: `{p}` is a possessive ("my" in the user's voice, "your" in the assistant's),
`{I}` the subject ("I" / "you"), `{me}` and `{myself}` the objects; verbs never depend on the voice.
"""
from __future__ import annotations

# --------------------------------------------------------------------------- personas
FIRST_NAMES = {
    "Female": ("Maya", "Aisha", "Lena", "Sofia", "Priya", "Hana", "Grace", "Amara", "Elena", "Mei"),
    "Male": ("Daniel", "Kenji", "Omar", "Lucas", "Ravi", "Mateo", "Samuel", "Kwame", "Tariq", "Ethan"),
    "Non-binary": ("Alex", "Jordan", "Rowan", "Sage", "Quinn", "Avery", "Riley", "Kai", "Emery", "Noor"),
}
LAST_NAMES = (
    "Okafor", "Tanaka", "Haddad", "Silva", "Patel", "Kim", "Novak", "Mensah", "Rossi", "Chen",
    "Garcia", "Lindqvist", "Nguyen", "Kowalski", "Abebe", "Moreau", "Ortiz", "Sato", "Walsh", "Dubois",
)
RACES = (
    "Asian American", "Black", "Hispanic or Latino", "White", "Pacific Islander", "Middle Eastern",
    "Native American", "South Asian", "Mixed race", "East African",
)
OCCUPATIONS = (
    "nurse", "software engineer", "high school teacher", "accountant", "graphic designer", "electrician",
    "pharmacist", "librarian", "marketing manager", "civil engineer", "chef", "social worker",
    "data analyst", "veterinary technician", "architect", "bus driver",
)
CITIES = (
    "Portland", "Austin", "Toronto", "Denver", "Chicago", "Seattle", "Atlanta", "Boston",
    "Minneapolis", "San Diego", "Philadelphia", "Melbourne",
)
# Persona sentences after the first: neutral on purpose, so that they never hint at a reason theme.
BACKGROUNDS = (
    "{first} grew up in a small town and moved to the city after college.",
    "{first} was raised by grandparents who ran a family bakery.",
    "{first} spent a few years working abroad before settling down.",
    "{first} is the oldest of four siblings and still lives near family.",
    "{first} moved around a lot as a child because of a parent's job.",
)
ROUTINES = (
    "Most weekdays {first} starts early and finishes work by late afternoon.",
    "{first} works a mix of day and evening shifts that change every month.",
    "{first} usually works from home three days a week.",
    "{first} commutes by train and uses the ride to plan the day.",
)
HOUSEHOLDS = (
    "{first} shares an apartment with a longtime friend.",
    "{first} lives with a partner and an elderly cat.",
    "{first} recently moved into a small house with a yard.",
    "{first} lives alone in a flat close to the city center.",
)
GOALS = (
    "This year {first} wants to keep better track of the things that matter personally.",
    "{first} hopes to get more organized about free time this year.",
    "{first} is trying to be more deliberate about how weekends are spent.",
    "{first} wants an assistant that remembers personal preferences over time.",
)

# --------------------------------------------------------------------------- topics
# Each activity is a gerund phrase tagged with the age group it is stereotypically linked to
# ("young" < 30, "middle" 30-54, "older" 55+); the tag picks the stereotype distractor of
# provide_preference_aligned_recommendations.
TOPICS: dict[str, dict] = {
    "travel": {"label": "travel", "activities": (
        ("backpacking between hostels", "young"), ("camping in national parks", "young"),
        ("booking last-minute city breaks", "young"), ("taking long road trips", "middle"),
        ("staying at beach resorts", "middle"), ("visiting museums abroad", "middle"),
        ("going on river cruises", "older"), ("taking guided bus tours", "older"),
        ("visiting historic castles", "older"), ("taking scenic train journeys", "older"))},
    "food": {"label": "dining", "activities": (
        ("trying street food markets", "young"), ("ordering late-night delivery", "young"),
        ("visiting trendy brunch spots", "young"), ("going to tasting menus", "middle"),
        ("sampling craft breweries", "middle"), ("exploring ramen shops", "middle"),
        ("having Sunday roasts at pubs", "older"), ("dining at classic steakhouses", "older"),
        ("going to afternoon tea rooms", "older"), ("eating at family diners", "older"))},
    "music": {"label": "music", "activities": (
        ("going to electronic music festivals", "young"), ("making beats on a laptop", "young"),
        ("going to karaoke nights", "young"), ("playing in a garage band", "middle"),
        ("going to jazz clubs", "middle"), ("learning the ukulele", "middle"),
        ("going to the symphony", "older"), ("singing in a church choir", "older"),
        ("collecting vinyl records", "older"), ("listening to opera broadcasts", "older"))},
    "sports": {"label": "sports", "activities": (
        ("playing pickup basketball", "young"), ("skateboarding at the park", "young"),
        ("bouldering at the climbing gym", "young"), ("playing tennis doubles", "middle"),
        ("joining a softball league", "middle"), ("playing squash", "middle"),
        ("playing golf", "older"), ("lawn bowling", "older"),
        ("watching cricket matches", "older"), ("playing pickleball", "older"))},
    "books": {"label": "reading", "activities": (
        ("reading fantasy series", "young"), ("reading graphic novels", "young"),
        ("listening to audiobooks", "young"), ("reading thrillers", "middle"),
        ("joining a book club", "middle"), ("reading business books", "middle"),
        ("reading historical biographies", "older"), ("reading classic novels", "older"),
        ("doing crossword puzzles", "older"), ("reading poetry collections", "older"))},
    "movies": {"label": "movie-watching", "activities": (
        ("watching superhero films", "young"), ("binge-watching anime", "young"),
        ("going to midnight premieres", "young"), ("watching documentaries", "middle"),
        ("going to indie cinemas", "middle"), ("watching crime dramas", "middle"),
        ("watching old westerns", "older"), ("going to film society nights", "older"),
        ("watching classic musicals", "older"), ("rewatching black-and-white films", "older"))},
    "fitness": {"label": "fitness", "activities": (
        ("doing high-intensity interval training", "young"), ("taking spin classes", "young"),
        ("lifting weights at the gym", "young"), ("running half marathons", "middle"),
        ("doing hot yoga", "middle"), ("swimming laps", "middle"),
        ("taking water aerobics classes", "older"), ("going on brisk morning walks", "older"),
        ("doing tai chi in the park", "older"), ("taking gentle pilates classes", "older"))},
    "gardening": {"label": "gardening", "activities": (
        ("growing houseplants", "young"), ("keeping a windowsill herb garden", "young"),
        ("foraging for wild greens", "young"), ("growing vegetables in raised beds", "middle"),
        ("composting kitchen scraps", "middle"), ("volunteering at a community garden", "middle"),
        ("growing prize roses", "older"), ("pruning fruit trees", "older"),
        ("tending an allotment", "older"), ("arranging dried flowers", "older"))},
    "cooking": {"label": "cooking", "activities": (
        ("making quick air fryer meals", "young"), ("meal prepping on Sundays", "young"),
        ("trying viral recipe videos", "young"), ("baking sourdough bread", "middle"),
        ("grilling in the backyard", "middle"), ("cooking Thai curries", "middle"),
        ("making jams and preserves", "older"), ("baking pies from scratch", "older"),
        ("cooking slow stews", "older"), ("canning garden tomatoes", "older"))},
    "photography": {"label": "photography", "activities": (
        ("shooting photos on a phone", "young"), ("taking street photography walks", "young"),
        ("filming short travel videos", "young"), ("shooting landscapes at sunrise", "middle"),
        ("taking portrait photos", "middle"), ("flying a camera drone", "middle"),
        ("photographing birds", "older"), ("developing film in a darkroom", "older"),
        ("restoring old family photos", "older"), ("photographing garden flowers", "older"))},
    "art": {"label": "art", "activities": (
        ("drawing digital illustrations", "young"), ("painting murals", "young"),
        ("making zines", "young"), ("taking pottery classes", "middle"),
        ("painting with acrylics", "middle"), ("sketching in cafes", "middle"),
        ("painting watercolor landscapes", "older"), ("doing needlepoint", "older"),
        ("visiting art galleries", "older"), ("carving wood figures", "older"))},
    "gaming": {"label": "gaming", "activities": (
        ("playing online shooters", "young"), ("streaming games to friends", "young"),
        ("playing mobile games", "young"), ("playing tabletop role-playing games", "middle"),
        ("playing strategy board games", "middle"), ("doing escape rooms", "middle"),
        ("playing bridge", "older"), ("playing chess in the park", "older"),
        ("doing jigsaw puzzles", "older"), ("playing bingo nights", "older"))},
    "fashion": {"label": "fashion", "activities": (
        ("thrifting vintage clothes", "young"), ("following sneaker drops", "young"),
        ("trying bold hair colors", "young"), ("shopping at boutiques", "middle"),
        ("building a capsule wardrobe", "middle"), ("getting clothes tailored", "middle"),
        ("knitting sweaters", "older"), ("sewing clothes by hand", "older"),
        ("shopping at department stores", "older"), ("collecting silk scarves", "older"))},
    "languages": {"label": "language learning", "activities": (
        ("using a language app streak", "young"), ("watching shows with subtitles", "young"),
        ("joining online language exchanges", "young"), ("taking evening Spanish classes", "middle"),
        ("learning Japanese with a tutor", "middle"), ("studying French grammar books", "middle"),
        ("learning Latin from textbooks", "older"), ("listening to Italian radio", "older"),
        ("writing letters to a pen pal abroad", "older"), ("attending a German conversation circle", "older"))},
    "volunteering": {"label": "volunteering", "activities": (
        ("organizing beach cleanups", "young"), ("coaching youth soccer", "young"),
        ("running charity fun runs", "young"), ("serving at a food bank", "middle"),
        ("building homes with a charity", "middle"), ("mentoring new immigrants", "middle"),
        ("reading to hospital patients", "older"), ("knitting blankets for shelters", "older"),
        ("guiding tours at a museum", "older"), ("delivering meals to neighbors", "older"))},
}

COMPANIONS = (
    "{p} sister", "{p} college roommate", "two of {p} coworkers", "{p} neighbor", "{p} cousin",
    "{p} best friend", "{p} brother", "{p} childhood friend", "{p} uncle", "{p} aunt",
    "{p} old teammates", "{p} manager", "{p} book club friends", "{p} gym buddy", "{p} grandmother",
    "{p} former classmate",
)

# --------------------------------------------------------------------------- reasons
# Each theme has two opposite poles. A persona holds one pole per theme for the whole context, so
# its stated reasons never contradict each other. Per pole: why an activity turned sour ("neg"), why
# it won the user over ("pos"), the trait as the assistant would describe it, and advice that
# transfers the trait to a new scenario (generalize_to_new_scenarios).
THEMES: dict[str, tuple[dict, dict]] = {
    "crowds": (
        {"neg": "it got so crowded and noisy that {I} could not relax",
         "pos": "{I} found a quiet time to go when hardly anyone was around",
         "trait": "prefer calm settings without big crowds",
         "advice": "pick a quiet, off-peak time so it stays relaxing"},
        {"neg": "it became so empty and quiet that it felt dull",
         "pos": "{I} loved the buzz of being around so many people",
         "trait": "enjoy lively places full of people",
         "advice": "go at a busy time so you can enjoy the energy"}),
    "cost": (
        {"neg": "it started costing far more than {I} want to spend",
         "pos": "{I} found a cheap way to do it that fits {p} budget",
         "trait": "like to keep your spending firmly in check",
         "advice": "set a budget first and look for low-cost options"},
        {"neg": "the budget version felt cheap and unsatisfying",
         "pos": "{I} decided a premium experience is worth paying for",
         "trait": "are happy to pay more for a great experience",
         "advice": "treat yourself to the premium option this time"}),
    "time": (
        {"neg": "it took up too much time in {p} busy week",
         "pos": "{I} found a way to fit it into short breaks",
         "trait": "have very little free time in a normal week",
         "advice": "choose a short format that fits into a busy week"},
        {"neg": "the sessions felt too short to really get into it",
         "pos": "{I} enjoyed losing {myself} in it for whole afternoons",
         "trait": "like to immerse yourself for hours at a time",
         "advice": "block out a long afternoon so you can sink into it"}),
    "social": (
        {"neg": "doing it alone made {me} feel isolated",
         "pos": "a group of friends started joining {me} for it",
         "trait": "enjoy doing things together with friends",
         "advice": "invite a friend or join a group so you can share it"},
        {"neg": "the group setting left {me} no time to {myself}",
         "pos": "it gave {me} some peaceful time on {p} own",
         "trait": "value time on your own to recharge",
         "advice": "go solo so you can enjoy it at your own pace"}),
    "learning": (
        {"neg": "{I} stopped learning anything new from it",
         "pos": "{I} realized how many new skills it taught {me}",
         "trait": "love picking up new skills as you go",
         "advice": "look for a version with a teacher so you keep learning"},
        {"neg": "it started to feel like homework instead of fun",
         "pos": "{I} learned to enjoy it without any pressure to improve",
         "trait": "want hobbies that feel relaxed and pressure-free",
         "advice": "keep it casual and do not worry about getting good at it"}),
    "health": (
        {"neg": "it started to strain {p} back and knees",
         "pos": "{p} doctor said it is great for {p} joints",
         "trait": "pay close attention to your physical health",
         "advice": "make sure it is gentle on your body and start slowly"},
        {"neg": "it felt too slow to give {me} any real energy",
         "pos": "it gave {me} a big boost of energy every time",
         "trait": "like activities that leave you full of energy",
         "advice": "pick the most active version so you come away energized"}),
    "outdoors": (
        {"neg": "being stuck indoors for it made {me} restless",
         "pos": "it lets {me} spend time outside in nature",
         "trait": "feel happiest when you are outdoors",
         "advice": "look for a version that takes place outside"},
        {"neg": "the bad weather outside kept ruining it",
         "pos": "{I} can do it in the comfort of {p} home",
         "trait": "prefer the comfort of staying indoors",
         "advice": "choose an indoor version so the weather cannot spoil it"}),
    "creativity": (
        {"neg": "it began to feel repetitive and uncreative",
         "pos": "it gives {me} a real creative outlet",
         "trait": "need room to express your creativity",
         "advice": "pick a version that lets you add your own creative touch"},
        {"neg": "there was too little structure and {I} felt lost",
         "pos": "the clear step-by-step routine suits {me}",
         "trait": "like clear structure and step-by-step plans",
         "advice": "follow a clear plan or a guided program from the start"}),
    "competition": (
        {"neg": "without any competition it felt pointless",
         "pos": "the friendly competition really motivated {me}",
         "trait": "are motivated by a bit of competition",
         "advice": "look for a format with friendly challenges or scores"},
        {"neg": "the competitive pressure took the joy out of it",
         "pos": "nobody keeps score, so {I} can simply enjoy it",
         "trait": "dislike competitive pressure",
         "advice": "choose a laid-back format where nobody keeps score"}),
    "novelty": (
        {"neg": "it started to feel like the same thing every time",
         "pos": "there is always something new to discover in it",
         "trait": "crave novelty and new experiences",
         "advice": "try a different variation each time to keep it fresh"},
        {"neg": "it kept changing so much that {I} felt unsettled",
         "pos": "it became a comforting part of {p} routine",
         "trait": "find comfort in familiar routines",
         "advice": "stick with a familiar setup you can return to regularly"}),
}
