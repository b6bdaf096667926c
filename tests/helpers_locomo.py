"""Two made-up LoCoMo conversations, shared by the LoCoMo task tests and the LoCoMo lm-eval export tests."""


def _turn(speaker, dia_id, text, **extra):
    return {"speaker": speaker, "dia_id": dia_id, "text": text, **extra}


def invented():
    """Two made-up conversations in LoCoMo's schema."""
    one = {"sample_id": "c1", "conversation": {
        "speaker_a": "Ann", "speaker_b": "Bo",
        "session_1_date_time": "9:00 am on 1 March, 2021",
        "session_1": [_turn("Ann", "D1:1", "I adopted a cat named Pepper."),
                      _turn("Bo", "D1:2", "Lovely! Look at my garden.", img_url=["x"], blip_caption="a photo of tulips")],
        "session_2_date_time": "6:30 pm on 2 April, 2021",
        "session_2": [_turn("Ann", "D2:1", "Pepper learned to open doors."),
                      _turn("Bo", "D2:2", "I started pottery, painting too.")]},
        "qa": [{"question": "What is Ann's cat called?", "answer": "Pepper", "evidence": ["D1:1"], "category": 4},
               {"question": "What hobbies did Bo start?", "answer": "pottery, painting", "evidence": ["D2:2; D1:2"],
                "category": 1},
               {"question": "When did Pepper learn doors?", "answer": "April 2021", "evidence": ["D:2:01", "D9:9"],
                "category": 2},
               {"question": "What is Bo's dog called?", "adversarial_answer": "Rex", "evidence": [], "category": 5},
               {"question": "Broken?", "answer": "x", "evidence": [], "category": 9},
               {"question": "", "answer": "x", "evidence": [], "category": 4}]}
    two = {"sample_id": "c2", "conversation": {
        "speaker_a": "Cy", "speaker_b": "Di", "session_1_date_time": "noon on 5 May, 2022",
        "session_1": [_turn("Cy", "D1:1", "I moved to Lisbon."), _turn("Di", "D1:2", "I stay in Oslo.")]},
        "qa": [{"question": "Where did Cy move?", "answer": "Lisbon", "evidence": ["D1:1"], "category": 4},
               {"question": "Does Di like heat?", "answer": "Probably not; Oslo", "evidence": ["D1:2"], "category": 3}]}
    return [one, two]
