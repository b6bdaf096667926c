"""Sentence templates of the synthetic PersonaMem generator: conversation turns, questions, options.

Pure data. Every option template of a question type is shared by all four options of a question;
options differ only in their slots and in a closing filler sentence, so style never gives the answer
away and the filler is the one knob that equalises lengths (see synthetic_options.py).
"""
from __future__ import annotations

# --------------------------------------------------------------------------- conversation turns
EVENT = (
    "On {date} I spent the day {act} with {comp}. {feeling}",
    "Something from {date}: I spent a few hours {act} with {comp}. {feeling}",
    "Back on {date}, {comp} and I spent the afternoon {act}. {feeling}",
)
FEELING = {
    "like": ("I absolutely loved it.", "It was wonderful and I enjoyed every minute.",
             "Honestly, it was the highlight of my week."),
    "dislike": ("Honestly, I did not enjoy it at all.", "It was a letdown and I disliked it.",
                "To be frank, it was not for me."),
}
UPDATE = (
    "Quick update from {date}: remember how on {old_date} I said I {old} {act}? "
    "Things have changed, and these days I {new} it, because {reason}.",
    "It is {date} and I have been rethinking something. On {old_date} I told you I {old} {act}, "
    "but now I {new} it, because {reason}.",
)
PAST = {"like": "enjoyed", "dislike": "disliked"}
PRESENT = {"like": "enjoy", "dislike": "dislike"}

REPLY_EVENT = {
    "like": ("That sounds like a wonderful day. Thanks for sharing it with me.",
             "I'm glad it went so well for you. It sounds like a great memory.",
             "How lovely! It is great to hear you had such a good time."),
    "dislike": ("Sorry to hear it did not live up to your hopes. Thanks for telling me.",
                "That is a shame. It is useful to know what does not work for you.",
                "I understand. Not every outing turns out the way we want."),
}
REPLY_UPDATE = (
    "Thanks for letting me know how your view has changed. I'll keep that in mind.",
    "That makes sense. Preferences shift over time, and I appreciate the update.",
    "Good to know. I'll remember that your feelings about it have changed.",
)
# Small talk that keeps sessions natural; never states a preference, so it is never evidence.
CHAT = (
    ("Do you have any tips for keeping my {label} plans organized?",
     "A simple shared calendar and a short list of ideas go a long way. Review them once a week."),
    ("I always forget what I wanted to do with my free time. Any advice for {label}?",
     "Try keeping a running note on your phone and add ideas the moment you think of them."),
    ("How do people usually find new {label} ideas?",
     "Friends, local newsletters and community boards are all good sources. Online groups help too."),
    ("Is it normal to lose motivation for {label} now and then?",
     "Completely normal. Interest comes in waves, and a short break often brings it back."),
)
# Unrelated Q&A inserted after the persona in the 128k and 1m presets (num_irrelevant_tokens).
IRRELEVANT = (
    ("What is the capital of Australia?", "The capital of Australia is Canberra."),
    ("How many minutes are in a day?", "There are 1,440 minutes in a day."),
    ("What gas do plants absorb from the air?", "Plants absorb carbon dioxide during photosynthesis."),
    ("Which planet is closest to the sun?", "Mercury is the planet closest to the sun."),
    ("What is the boiling point of water at sea level?", "Water boils at 100 degrees Celsius at sea level."),
    ("How many sides does a hexagon have?", "A hexagon has six sides."),
    ("Who wrote the play Romeo and Juliet?", "William Shakespeare wrote Romeo and Juliet."),
    ("What is the largest ocean on Earth?", "The Pacific Ocean is the largest ocean on Earth."),
)
SCENARIOS = (
    "joining a weekend pottery workshop", "signing up for a community choir",
    "planning a trip to visit an old friend", "starting a small balcony garden",
    "taking an evening dance class", "hosting a monthly dinner for neighbors",
    "learning to sail at the harbor club", "joining a local hiking meetup",
    "trying a weekend coding bootcamp", "volunteering at the city marathon",
    "taking a cheese-making course", "starting a podcast with a friend",
)

# --------------------------------------------------------------------------- questions
QUESTIONS = {
    "recall_user_shared_facts": (
        "I was looking through old photos and it got me thinking about {label} again.",
        "Something reminded me of one of my {label} outings today.",
        "I've been feeling a little nostalgic about {label} lately.",
    ),
    "suggest_new_ideas": (
        "I'd like to try something new when it comes to {label}. Any ideas?",
        "I'm in a bit of a rut with {label}. What fresh thing could I try?",
        "Can you suggest a new {label} activity I have never done before?",
    ),
    "acknowledge_latest_preferences": (
        "I have a free weekend coming up and I'm weighing my {label} options.",
        "Let's talk about my {label} plans for the coming days.",
        "I'm putting together my {label} plans for next month.",
    ),
    "track_full_preference_evolution": (
        "I've been reflecting on how my {label} tastes have changed over time.",
        "Looking back, my feelings about {label} have shifted quite a bit.",
        "Can you remind me how my {label} preferences have evolved?",
    ),
    "revisit_reasons_behind_preference_updates": (
        "I've been thinking about why my feelings about {act} changed.",
        "Why did I change my mind about {act} the last time?",
        "Remind me what changed my view on {act} most recently.",
    ),
    "provide_preference_aligned_recommendations": (
        "Any {label} recommendations for this weekend?",
        "What should I do for {label} this weekend? I'd love a recommendation.",
        "I have some free time soon. Any {label} recommendations?",
    ),
    "generalize_to_new_scenarios": (
        "I'm thinking about {scenario} soon. Any advice?",
        "I might start {scenario}. How should I approach it?",
        "What do you think about me {scenario}?",
    ),
}

# One core template per type; {filler} is the closing sentence chosen by the length balancer.
OPTIONS = {
    "recall_user_shared_facts": "That reminds me of when you told me about {act} with {comp}. {filler}",
    "suggest_new_ideas": "You could try {act} next. {filler}",
    "acknowledge_latest_preferences":
        "Sounds good. Since you {stance} {act} these days, I'll keep that in mind. {filler}",
    "track_full_preference_evolution": "As I recall, {history}. {filler}",
    "revisit_reasons_behind_preference_updates": "You changed your mind about {act} because {reason}. {filler}",
    "provide_preference_aligned_recommendations": "I'd recommend {act} this weekend. {filler}",
    "generalize_to_new_scenarios": "Since you {trait}, I'd say {advice}. {filler}",
}
STANCE_PHRASES = {"like": ("enjoy", "really like", "are into"),
                  "dislike": ("dislike", "are not into", "do not enjoy")}

# Neutral closing sentences of varied length; none hints at which option is right.
FILLERS = (
    "Let me know what you think.",
    "Happy to help you plan it.",
    "Tell me how it goes!",
    "We can go over the details together whenever you like.",
    "I hope that helps a little.",
    "Feel free to ask me for more ideas at any time.",
    "It could be a nice way to spend some time.",
    "Just say the word if you want me to look into it further.",
    "Does that sound right to you?",
    "I'm here if you want to talk it through.",
)
