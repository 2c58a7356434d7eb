"""Mutants and alternatives for ch3.ioi_prompts."""
from circuitlab.grading.meta import alternative, mutant


@mutant(hint="orders are swapped")
def swapped_orders(template, io, s, c, order, place, obj):
    first, second = (s, io) if order == "ABBA" else (io, s)
    return (template.format(A=first, B=second, S=s, P=place, O=obj),
            template.format(A=first, B=second, S=c, P=place, O=obj))


@mutant(hint="replaced the first mention of S")
def corrupts_s1(template, io, s, c, order, place, obj):
    first, second = (io, s) if order == "ABBA" else (s, io)
    clean = template.format(A=first, B=second, S=s, P=place, O=obj)
    first_c, second_c = (io, c) if order == "ABBA" else (c, io)
    return clean, template.format(A=first_c, B=second_c, S=s, P=place, O=obj)


@mutant(hint="replaced IO with C")
def corrupts_io(template, io, s, c, order, place, obj):
    first, second = (io, s) if order == "ABBA" else (s, io)
    clean = template.format(A=first, B=second, S=s, P=place, O=obj)
    first_c, second_c = (c, s) if order == "ABBA" else (s, c)
    return clean, template.format(A=first_c, B=second_c, S=s, P=place, O=obj)


@mutant(hint="identical to the clean one")
def no_corruption(template, io, s, c, order, place, obj):
    first, second = (io, s) if order == "ABBA" else (s, io)
    clean = template.format(A=first, B=second, S=s, P=place, O=obj)
    return clean, clean


@alternative
def with_replace(template, io, s, c, order, place, obj):
    names = {"A": io, "B": s} if order == "ABBA" else {"A": s, "B": io}
    filled = template.replace("{P}", place).replace("{O}", obj)
    for slot, name in names.items():
        filled = filled.replace("{" + slot + "}", name)
    return filled.replace("{S}", s), filled.replace("{S}", c)


@mutant(hint="inside")
def replaces_the_second_occurrence_of_s(template, io, s, c, order, place, obj):
    # Fills the clean prompt, then replaces the second occurrence of S's text: the right mention for most
    # names, but "Ann" also occurs inside "Anna".
    first, second = (io, s) if order == "ABBA" else (s, io)
    clean = template.format(A=first, B=second, S=s, P=place, O=obj)
    start = clean.find(s)
    second_at = clean.find(s, start + len(s))
    return clean, clean[:second_at] + c + clean[second_at + len(s):]


@alternative
def with_a_word_split(template, io, s, c, order, place, obj):
    """Fills both prompts through a dict of slots (the same answer by another route)."""
    slots = {"A": io if order == "ABBA" else s, "B": s if order == "ABBA" else io, "P": place, "O": obj}
    return template.format(**slots, S=s), template.format(**slots, S=c)
