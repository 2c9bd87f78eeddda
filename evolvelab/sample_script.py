# One conversation turn per line reads better than wrapped prose.
# ruff: noqa: E501
"""The written script of the sample stream: two friendships, chit-chat, and gold queries.

All people, conversations and questions here are invented for EvolveLab. The notation is
explained in :mod:`evolvelab.sample`, which turns this script into ``sample.jsonl``.
Queries are ``(category, question, short answer, comma-separated evidence labels)``;
adversarial queries cite no label (there is nothing in the conversation that answers them).
Chit-chat is ``(opener, reply, follow-up)``; the follow-up is used when the script needs
the opener's speaker to have the last word.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CONVERSATIONS", "FILLER", "SLOTS", "Conversation"]


@dataclass(frozen=True)
class Conversation:
    """One user scope: who talks, what they say, and what is asked afterwards."""

    user: str
    speakers: tuple[str, str]
    script: str
    queries: tuple[tuple[str, str, str, str], ...]


ANA = """
@ 2023-01-14 10:05
A: Marta! Happy new year, even if it's a bit late. How was Christmas at your mum's?
B: Loud, warm and far too much food. Twelve of us around one table. How about yours?
~
A [ana.job]: Mostly spent behind the counter, to be honest. I'm a pharmacist, so December is wall-to-wall flu remedies and panicked prescription refills.
B: Oof. I don't know how you stay so calm with queues like that.
A [ana.city]: Years of practice. I've been in Leeds almost six years now and the winter rush at our branch never gets easier.
B [marta.marathon]: Well, I've gone and done something daft. I entered the Manchester half marathon for April.
A: That's not daft, that's brilliant! Have you got a training plan?
B: Three runs a week, one of them long, and a lot of moaning in between.
~
A [ana.cat] {a grey cat curled up asleep on top of a radiator}: Look who has claimed the radiator again. Pepper refuses to move until spring.
B: She looks so smug! Give her a scratch behind the ears from me.
A [ana.cello]: I've also finally started cello lessons, Wednesday evenings. My teacher says my bowing sounds like a creaky gate.
B: Everyone sounds like that at the beginning. I think it's lovely that you're doing it.
A: Right, the washing machine is beeping at me. Speak soon?
B: Definitely. Good luck with the creaky gate!

@ 2023-02-04 18:40
B: Hey you. How's your week been?
A [ana.tea1]: Long, but I'm curled up with a pot of jasmine now. Honestly, it's my favourite drink in the world, I get through a box every week.
B: You and your jasmine. I'm strictly a builder's brew person.
~
A [ana.sister]: Big news from my side: my sister Lucia is pregnant! The baby is due in June.
B: Oh, that's wonderful! You're going to be an auntie!
A: I know, I've already started looking at tiny knitted hats.
~
B: My long run today was sixteen kilometres along the canal. My legs are jelly.
A: Sixteen! That's further than I drive some days.
B: Ha. How is the music going?
A: Slowly. We're on scales, endless scales. Pepper leaves the room whenever I start.
~
B: I'd better go and stretch before I seize up completely.
A: Go! Speak soon.

@ 2023-02-25 11:20
A [ana.lisbon] {a yellow tram climbing a narrow cobbled street}: Hello from a very tired person! I only got back from Lisbon yesterday. Four days of custard tarts and hills.
B: Jealous! Was the weather kind to you?
A: Sunny and mild, which felt like cheating after a Yorkshire winter. We rode the old trams up to the castle.
~
B: Who did you go with?
A: Two old friends from university. We rented a tiny flat in Alfama with a balcony the size of a tea tray.
B: That sounds perfect.
~
B: Slightly less glamorous here. My knee started aching on Thursday's run, so I'm resting it for a week.
A: Ice it and don't be a hero. You've still got time before April.
B: That's what the physio said too.
~
A: I'm off to unpack. There is sand in everything somehow.
B: Ha! Welcome home.

@ 2023-03-19 20:15
B: You said on the phone you had news?
A [ana.offer]: I do! I've been offered a job at a big hospital in Bristol, working in their pharmacy team on the oncology wards.
B: Ana! That's huge. Are you going to take it?
A: I honestly don't know. It would mean leaving my friends, and the shop I know inside out.
~
B: What does your gut say?
A: My gut says yes and my stomach says panic.
B: When Dev moved here for work he said the first three months were the hardest and then it just clicked.
A: That actually helps. I've got until the end of the month to decide.
~
A: How's the knee?
B: Much better. I did ten kilometres pain-free on Friday.
A: Brilliant. Don't overdo it.
~
B: Keep me posted on the decision!
A: You'll be the first to know.

@ 2023-04-16 17:30
B [marta.race]: I did it! I finished the half marathon this morning in two hours and four minutes!
A: MARTA! That's incredible, I'm so proud of you!
B: I cried at the finish line. Dev has a photo of it that I'm not allowed to see.
~
A [ana.accept]: I've got news too. I rang the hospital on Friday and said yes.
B: Yes!! I knew you would. When do you go?
A: The plan is mid-May. I'm already drowning in cardboard boxes.
~
B: What about Pepper? Will she cope with all the upheaval?
A: She'll sulk, but she sulks about everything, so nobody will notice the difference.
~
B: I'm going to have a bath and not move for a week.
A: You've earned it.

@ 2023-05-21 12:10
A [ana.move] {a living room full of cardboard boxes with a cat sitting in one}: We moved into the new flat in Bristol on the 13th. It still looks like this.
B: I love that the cat has already picked a box.
A: Pepper yowled the entire drive down the M5 and then fell asleep the second we arrived.
~
B: How's the new job so far?
A: Busy but good. The team are lovely, and nobody has asked me for cough syrup once.
B: Ha! A different world.
~
A [ana.tea2]: Also, weird confession: I've gone right off jasmine. A colleague got me onto rooibos and now that's all I drink.
B: Who are you and what have you done with my friend?
A: I know! Six years of one flavour, gone in a fortnight.
~
B [marta.nextrace]: I've signed up for another race, by the way. The full Berlin marathon at the end of September.
A: A full one! You're unstoppable.
B: Or just stubborn.
A: I'll call you when I've found the kettle.
B: Ha, deal.

@ 2023-06-18 19:45
A [ana.niece] {a newborn baby wrapped in a white blanket}: I'm an auntie! Lucia had a little girl on Tuesday. Her name is Isla.
B: Oh my goodness, she's perfect! Congratulations to all of you!
A: I drove up to see them yesterday. I held her for an hour and didn't want to give her back.
~
B: How is Lucia doing?
A: Tired but glowing. Mum has basically moved in with them.
~
B: How's Bristol treating you otherwise?
A [ana.cello_stop]: Pretty well. I haven't unpacked the cello though. I don't think I'm going to pick it back up, to be honest.
B: Fair enough. New city, new start.
A: Exactly. I'd like to find something hands-on instead.
~
B: Give baby Isla a squeeze from me!
A: Will do.

@ 2023-07-09 09:50
A [ana.dog] {a brindle greyhound lying upside down on a sofa}: Meet Biscuit! We adopted him from a greyhound rescue two weeks ago.
B: WHAT. Ana, he's gorgeous. How is Pepper taking it?
A [ana.hiss]: She hisses at him from the top of the bookcase and he's terrified of her. So, about what you'd expect.
~
B: Aren't those dogs meant to be total couch potatoes?
A: He sleeps about twenty hours a day. Two short walks and he's done.
~
A [ana.pottery]: And I've found my hands-on thing: a pottery class on Thursday evenings. I made a very lopsided bowl.
B: Lopsided bowls have character.
A: That's what I keep telling myself.
~
B: I'm up to thirty kilometres for my long runs now. Berlin is starting to feel real.
A: You're amazing. Take water!
B: I've got to go, Dev's made dinner.
A: Enjoy!

@ 2023-08-13 16:05
B [marta.engaged] {a hand wearing a thin gold ring with a small green stone}: Okay, I have to tell you before I burst. Dev proposed last night!
A: Oh my goodness!! Congratulations! Tell me everything.
B: He did it on the canal towpath where we had our first walk. I said yes before he'd finished the question.
~
A [ana.iceland_plan]: That's so lovely. I've got something smaller to report: I've booked a week in Iceland for September.
B: Iceland! Northern lights?
A: Too early in the season probably, but I want to see the waterfalls and the black sand beach.
~
B: Who'll look after the animals?
A: My neighbour downstairs has offered. She already spoils Biscuit rotten.
~
B: Right, I have about forty people to text.
A: Go, go! Congratulations again.

@ 2023-09-24 14:30
A [ana.iceland] {a tall waterfall plunging over a mossy cliff}: Back from Iceland last week and still thinking about this waterfall.
B: That's unreal. Was it cold?
A: Freezing and windy and I loved every minute. The black sand beach was wild.
~
A [ana.promotion]: Oh, and I came home to good news at work: I've been promoted to lead pharmacist for the oncology team.
B: Ana! After only four months? They clearly know a good thing.
A: I'm still in shock, honestly.
~
B [marta.berlin]: I ran Berlin this morning! Four hours twenty-two, and I have never been so tired.
A: You absolute legend! How do you feel?
B: Like someone replaced my legs with planks.
~
A [ana.truce]: Biscuit and Pepper have called a truce, and my bowls are getting less lopsided. Life is good.
B: It really sounds like the move was the right call.
A: It was. Thanks for talking me into it.
"""

ANA_QUERIES = (
    ("single-hop", "What does Ana do for a living?", "a pharmacist", "ana.job"),
    ("single-hop", "What is the name of Ana's cat?", "Pepper", "ana.cat"),
    ("single-hop", "Which instrument did Ana take up at the start of the year?", "the cello",
     "ana.cello"),
    ("single-hop", "Which half marathon did Marta enter?", "the Manchester half marathon",
     "marta.marathon"),
    ("single-hop", "How is Lucia related to Ana?", "she is Ana's sister", "ana.sister"),
    ("single-hop", "What breed is Ana's dog?", "a greyhound", "ana.dog"),
    ("single-hop", "Who asked Marta to marry him?", "Dev", "marta.engaged"),
    ("single-hop", "What is the name of Ana's niece?", "Isla", "ana.niece"),
    ("temporal", "When did Ana return from her Portugal trip?", "24 February 2023",
     "ana.lisbon"),
    ("temporal", "On what date did Marta complete her first half marathon?", "16 April 2023",
     "marta.race"),
    ("temporal", "When did Ana accept the hospital's offer?", "Friday 14 April 2023",
     "ana.accept"),
    ("temporal", "When did Ana move into the new flat in Bristol?", "13 May 2023", "ana.move"),
    ("temporal", "When was Lucia's daughter born?", "Tuesday 13 June 2023", "ana.niece"),
    ("temporal", "Roughly when did Biscuit join Ana's household?", "around 25 June 2023",
     "ana.dog"),
    ("temporal", "When did Dev pop the question?", "12 August 2023", "marta.engaged"),
    ("temporal", "When was Ana's holiday in Iceland?", "mid-September 2023", "ana.iceland"),
    ("temporal", "On what date did Marta run in Germany?", "24 September 2023", "marta.berlin"),
    ("knowledge-update", "Which city is Ana living in now?", "Bristol", "ana.move"),
    ("knowledge-update", "What is Ana's favourite hot drink these days?", "rooibos",
     "ana.tea2"),
    ("knowledge-update", "What is Ana's current job title?", "lead pharmacist (oncology)",
     "ana.promotion"),
    ("knowledge-update", "What craft occupies Ana's week nowadays?", "pottery", "ana.pottery"),
    ("knowledge-update", "How do Ana's two animals get along at the moment?",
     "they have called a truce", "ana.truce"),
    ("multi-hop", "What pets does Ana have?", "Pepper the cat and Biscuit the greyhound",
     "ana.cat, ana.dog"),
    ("multi-hop", "Which cities has Ana called home during the year?", "Leeds, then Bristol",
     "ana.city, ana.move"),
    ("multi-hop", "Which countries did Ana visit on holiday?", "Portugal and Iceland",
     "ana.lisbon, ana.iceland"),
    ("multi-hop", "How did Ana's career develop over the year?",
     "pharmacist in Leeds, then a hospital oncology role in Bristol, then lead pharmacist",
     "ana.job, ana.offer, ana.promotion"),
    ("multi-hop", "Which musical pastime did Ana abandon, and what replaced it?",
     "she dropped the cello and took up pottery", "ana.cello, ana.cello_stop, ana.pottery"),
    ("multi-hop", "Which races has Marta signed up for this year?",
     "a half marathon in Manchester and a full marathon in Berlin",
     "marta.marathon, marta.nextrace"),
    ("adversarial", "When did Ana run the Manchester half marathon?", "not mentioned", ""),
    ("adversarial", "What is the name of Ana's hamster?", "not mentioned", ""),
    ("adversarial", "Who proposed to Ana?", "not mentioned", ""),
)  # fmt: skip

BEN = """
@ 2023-03-04 10:30
B: Ben! Long time no speak. How's life in the staffroom?
A [ben.job]: Chaotic as ever. Eight years of teaching history at the same secondary school and the third-years still think the Jacobites were a band.
B: Ha! At least they're listening enough to get it wrong.
A: True. How about you, still on nights?
B [priya.job]: Two more weeks of nights on the children's ward, then I'm back on days. I can't wait to see daylight.
~
A [ben.flat] {a bay window looking out over a row of sandstone tenements}: I've been marking from the window seat at the flat. The West End is the prettiest bit of Glasgow when it isn't raining.
B: So, never?
A: Exactly. Never.
~
A [ben.tortoise]: Gus the tortoise has woken up from hibernation, by the way. Forty-one years old and still grumpier than me.
B: I can't believe your grandad's pet is older than both of us.
A: He'll probably outlive us too.
~
B: Right, I need to sleep before my shift.
A: Sleep well.

@ 2023-03-19 21:05
A: How was the last week of nights?
B [priya.spanish]: Survived! And I've signed up for Spanish evening classes. We're going to Valencia in the summer and I refuse to just point at menus.
A: Good for you. I only know how to order a beer.
~
B: Any plans for the Easter holidays?
A [ben.japan_plan]: Big ones, actually. Sofia and I are going to Japan for two weeks. Tokyo, Kyoto, then Osaka.
B: No way! You'll love it.
A [ben.sushi1]: The only worry is food. I can't stand raw fish, never have, so I'm going to live on noodles.
B: You'll cave. Everyone caves in Japan.
~
B: Does Sofia have time off?
A [ben.partner]: She's squeezing it in between deadlines. She's designing a library extension at the architecture practice at the moment.
B: Sounds stressful.
A [ben.football]: It is. I've got five-a-side football tomorrow night, same as every Monday, so I'd better rest these old legs.
B: Don't pull anything!

@ 2023-04-01 15:40
B: Are you packed for your trip yet?
A: Half packed. I've got three guidebooks and one pair of socks.
~
A [ben.book]: I've also been spending my evenings on my book. I'm writing a history of the shipyards on the Clyde, told through the workers' own letters.
B: Ben, that's amazing. How far along are you?
A: About a third of the way, if you're generous.
~
A [ben.brother]: Family news: my brother Tom is getting married in August, and he's asked me to be best man.
B: Oh, congratulations to him! Have you started on the speech?
A: I've got one joke and it's not a good one.
~
B [priya.maya]: Maya is very excited because her school starts in August too. She's already chosen her lunchbox.
A: What's on the lunchbox?
B: A dinosaur eating a cupcake. Naturally.
A: I'll send you photos from Tokyo!
B: You'd better.

@ 2023-04-22 11:00
A [ben.japan] {a plate of salmon and tuna nigiri on a wooden counter}: Home! We flew back from Osaka on Monday and I'm still waking up at four in the morning.
B: Jet lag is the worst. Tell me everything.
A: The temples in Kyoto were beautiful, Tokyo was overwhelming in a good way, and Osaka was pure food.
~
B: Wait, what is that photo? Is that what I think it is?
A [ben.sushi2]: I know. You were right. I tried sushi in Osaka and now I can't stop thinking about it. I've already found a place near work.
B: I told you! Everyone caves.
~
B [priya.days]: I'm back on day shifts at last. I'd forgotten what the sun looked like.
A: Glad to hear it. How's the Spanish?
B: I can now ask where the train station is and then not understand the answer.
~
A: Gus was thrilled to see us. Or he blinked. Hard to tell with a tortoise.
B: Ha, that's a warm welcome by Gus standards.

@ 2023-05-28 18:20
B: You sound sorry for yourself. What happened?
A [ben.ankle]: I twisted my ankle at five-a-side on Monday. Landed badly going for a header, and now it's the size of a grapefruit.
B: Ouch. Did you get it looked at?
A: The physio says no football for at least two months.
B: Professional advice: rest, elevate, and don't be stubborn.
A: Yes, nurse.
~
A [ben.swim]: I'm going to try swimming instead. There's a pool ten minutes away and the physio says it's good for the ankle.
B: That's perfect for a sprain. You'll enjoy it.
~
B: Only six weeks until Valencia. My teacher says my accent is improving, which is a polite lie.
A: It probably isn't a lie.
B: Keep that ankle up!
A: Will do.

@ 2023-06-25 13:15
A [ben.move] {an empty room with bare floorboards and a large window}: We've got the keys! Sofia and I moved into a bigger flat on the Southside last weekend.
B: Congratulations! Do you miss the old neighbourhood already?
A: A bit, but we've got a garden now, and Gus has his own patch of lawn.
~
A [ben.museum_apply]: Also, I've applied for a job at the city museum. Assistant curator in their social history department.
B: Ben! Does that mean leaving the classroom?
A: If I get it, yes. Eight years is a good run, and the book has made me realise how much I love the archive side of things.
~
B: When is the interview?
A: Second week of July. I'm terrified.
~
A: On the plus side, I'm in the pool three mornings a week now and the ankle feels almost normal.
B: See? Nurse knows best.
A: Nurse always knows best.

@ 2023-07-30 20:00
B [priya.valencia] {a sunny beach with a row of striped umbrellas}: Hola! We got back from ten days in Valencia on Thursday. I'm still brown, for the moment.
A: That beach looks unreal. Did the lessons pay off?
B: I ordered paella for four people without any pointing. I'm taking that as a win.
~
A [ben.offer]: I've got news as well. The museum offered me the curator job! I start in October.
B: BEN! That's fantastic! I'm so happy for you.
A: I handed in my notice at school on Friday. It felt very strange.
~
B: How's the best man speech going?
A: Getting there. It now has two jokes and a story about Tom falling into a loch on a school trip.
B: The loch story has to stay in.
~
B: Speak soon, curator!
A: Ha, that's going to take some getting used to.

@ 2023-08-27 10:45
A [ben.wedding] {a groom and best man in kilts laughing outside a stone church}: Tom's wedding was yesterday and I'm a husk of a man. The speech went down well though!
B: You both look so smart! Did the loch story get a laugh?
A: The loudest laugh of the day. Tom's new wife cried laughing.
~
B [priya.school]: Maya started school on Wednesday! She marched in without looking back and I sobbed in the car park.
A: Aw, that's a proper milestone. Did she like it?
B: She says the best part was the dinosaur lunchbox.
~
A: Are you back at work tomorrow?
B: Yes, early shift. Back to reality.
~
A: Enjoy your last night of freedom then.
B: I'll be asleep by nine.

@ 2023-10-08 17:35
B: So? How was your first week?
A [ben.started]: I started on Monday the second and it's been a whirlwind. I spent Thursday in the basement stores handling letters from 1912.
B: That's so exactly you.
A [ben.newjob]: It is! Being assistant curator is everything I hoped. I miss the kids, but not the marking.
~
B: How's the book coming?
A: The museum archivist has offered to help me with it. I might actually finish it.
~
B: I have a little news too: I've been made a senior nurse on the ward.
A: Congratulations! That's brilliant news.
~
A: Let's celebrate properly soon.
B: Definitely.

@ 2023-11-12 12:00
A: We finally tried that sushi place near the museum. Sofia says I've become a sushi bore.
B: You are a total sushi bore. It's wonderful.
~
B: Is Gus hibernating yet?
A {a tortoise tucked into a box of shredded paper}: Tucked up in his box since last week. See you in March, Gus.
B: Sweet dreams, old man.
~
A: How's Maya getting on at school?
B: She's decided she wants to be a tortoise vet, thanks to Gus.
A: Ha! He'll be thrilled. Or he'll blink.
~
A: I swam two kilometres on Thursday without stopping, which for a former five-a-side midfielder is a miracle.
B: Look at you!
~
B: Same time next month?
A: Same time next month.
"""

BEN_QUERIES = (
    ("single-hop", "Which subject does Ben teach at the secondary school?", "history", "ben.job"),
    ("single-hop", "What kind of animal is Gus?", "a tortoise", "ben.tortoise"),
    ("single-hop", "What is Sofia's profession?", "architect", "ben.partner"),
    ("single-hop", "On what sort of hospital unit does Priya work?", "a children's ward",
     "priya.job"),
    ("single-hop", "Why did Priya enrol in language lessons?",
     "to get by in Spanish on her summer trip to Valencia", "priya.spanish"),
    ("single-hop", "What is Ben's book about?",
     "the Clyde shipyards, through the workers' letters", "ben.book"),
    ("single-hop", "What role did Tom give his brother at the wedding?", "best man",
     "ben.brother"),
    ("temporal", "When did Ben land back home after Japan?", "Monday 17 April 2023",
     "ben.japan"),
    ("temporal", "When did Ben twist his ankle at five-a-side?", "Monday 22 May 2023",
     "ben.ankle"),
    ("temporal", "On what date did Tom get married?", "26 August 2023", "ben.wedding"),
    ("temporal", "When was Maya's first day at school?", "Wednesday 23 August 2023",
     "priya.school"),
    ("temporal", "When did Ben begin his museum job?", "2 October 2023", "ben.started"),
    ("temporal", "Around when did Ben and Sofia change flats?", "the weekend of 17-18 June 2023",
     "ben.move"),
    ("knowledge-update", "Which part of Glasgow does Ben live in now?", "the Southside",
     "ben.move"),
    ("knowledge-update", "How does Ben feel about raw fish these days?", "he loves sushi now",
     "ben.sushi2"),
    ("knowledge-update", "What exercise does Ben do at the moment?", "swimming", "ben.swim"),
    ("knowledge-update", "What is Ben's current occupation?",
     "assistant curator at the city museum", "ben.newjob"),
    ("knowledge-update", "Is Priya still working nights?", "no, she is back on days",
     "priya.days"),
    ("multi-hop", "Which sports has Ben done this year?", "five-a-side football, then swimming",
     "ben.football, ben.swim"),
    ("multi-hop", "Which countries did Ben and Priya travel to?",
     "Ben went to Japan and Priya to Spain (Valencia)", "ben.japan, priya.valencia"),
    ("multi-hop", "What changed Ben's mind about raw fish?",
     "trying sushi in Osaka on his Japan trip", "ben.sushi1, ben.sushi2"),
    ("multi-hop", "How did Ben's career change during the year?",
     "from history teacher to assistant curator at the city museum", "ben.job, ben.newjob"),
    ("multi-hop", "Which Glasgow neighbourhoods has Ben lived in?", "the West End, then the Southside",
     "ben.flat, ben.move"),
    ("multi-hop", "What part did Ben play at his brother's wedding, and how did it go?",
     "he was best man, and his speech went down well", "ben.brother, ben.wedding"),
    ("adversarial", "What breed is Ben's dog?", "not mentioned", ""),
    ("adversarial", "When did Ben begin Spanish lessons?", "not mentioned", ""),
    ("adversarial", "What is the name of Ben's daughter?", "not mentioned", ""),
    ("adversarial", "Which instrument does Ben play?", "not mentioned", ""),
)  # fmt: skip

CONVERSATIONS = (
    Conversation("ana", ("Ana", "Marta"), ANA, ANA_QUERIES),
    Conversation("ben", ("Ben", "Priya"), BEN, BEN_QUERIES),
)

FILLER = (
    ("Random question, have you watched {show}?", "Only the first episode. People keep telling me it gets better.",
     "Stick with it, episode three is where it gets going."),
    ("I finally finished {show} last night.", "No spoilers! I'm still two episodes behind.",
     "My lips are sealed. But the ending, wow."),
    ("The weather here has been {weather} all week.", "Same here. I've given up trying to plan anything outdoors.",
     "Roll on next week, apparently it's meant to change."),
    ("Is it {weather} where you are too?", "Pretty much. I'm living in my biggest jumper.",
     "Jumper weather is my favourite kind of weather, to be fair."),
    ("I made {food} for dinner yesterday and it actually turned out well.", "Look at you, cooking properly on a weeknight!",
     "Don't get used to it, tonight is beans on toast."),
    ("Do you have a good recipe for {food}? Mine always ends up bland.", "More garlic than feels reasonable. That's my only secret.",
     "Noted. Double garlic it is."),
    ("I've been listening to a podcast about {topic}. Weirdly gripping.", "Send me the name, I need something for the bus.",
     "I'll message you the link later."),
    ("My phone updated itself overnight and now nothing is where it used to be.", "I hate that. Mine moved the alarm button and I slept through twice.",
     "Progress, they call it."),
    ("The neighbours have started drilling again. Every morning at eight sharp.", "That would drive me up the wall.",
     "I'm starting to think they're building a second house in there."),
    ("I slept for ten hours on {day} and still woke up tired.", "That's the worst. Bodies are so unreasonable.",
     "Maybe I need twelve."),
    ("Have you read anything good lately?", "I'm halfway through {book}. It's slow, but I'm hooked.",
     "Ooh, add it to my list."),
    ("I'm trying to drink more water. It's going terribly.", "Get one of those giant bottles with the hours printed on the side.",
     "I'll order one tonight before I forget again."),
    ("Did you see the sunset last night? The whole sky went orange.", "I missed it! I was stuck inside folding laundry.",
     "There'll be another one, I'm sure."),
    ("I've started a jigsaw. A thousand pieces and most of it is sky.", "That sounds like a punishment, not a pastime.",
     "You might be right. I've done four pieces in two days."),
    ("The supermarket has moved everything around again.", "Why do they do that? I spent ten minutes hunting for rice last time.",
     "Rice is next to the batteries now, for some reason."),
    ("I'm so tired this week. Everything feels like wading through treacle.", "Early night tonight, that's an order.",
     "Deal. In bed by ten."),
    ("Have you tried that new bakery everyone keeps posting about?", "Not yet. I've heard the queue goes round the corner.",
     "Worth it for the cinnamon buns, so I'm told."),
    ("My houseplant is finally growing a new leaf after months of nothing.", "Progress! Mine give up the minute I look at them.",
     "I just ignore mine. Seems to work."),
    ("I spent the whole of {day} sorting out my wardrobe.", "Very virtuous. I hope the charity shop got a big bag.",
     "Two bags, actually. I feel very light."),
    ("Have you been playing {game} at all?", "A bit too much, if I'm honest.",
     "Same. I tell myself it's good for the brain."),
    ("I nearly missed my train this morning. Sprinted the whole platform.", "Classic. I'd have just waited for the next one.",
     "Made it by about two seconds, for the record."),
    ("I've been trying to cut down on coffee.", "Brave. I'd be a monster by lunchtime.",
     "Day three and I'm already a bit of a monster."),
    ("There was a fox in the street last night, just sitting there like it owned the place.", "They're so bold these days. One stared me out at the bins once.",
     "It probably does, to be fair."),
    ("I treated myself to new trainers.", "Nice. Nothing beats that first walk in new shoes.",
     "They're very bright. You could see me from space."),
    ("Work has been so busy that I've eaten lunch standing up every day.", "That's not allowed. Ten minutes sitting down, at least.",
     "Fine, fine. Tomorrow I'll sit down."),
    ("I keep meaning to learn how to make proper bread.", "A sourdough phase is coming, I can feel it.",
     "I'll send you a loaf if it ever works."),
    ("I've started going to bed earlier and it's changed my life.", "Teach me your ways. I'm a hopeless night owl.",
     "The secret is leaving the phone in another room."),
    ("I tried a new pasta place on {day}.", "I've heard good things about that one.",
     "The portions were enormous. I'll take you next time."),
    ("The traffic this week has been ridiculous.", "Roadworks everywhere. It's like they coordinate it.",
     "I've started leaving twenty minutes early just in case."),
    ("I've had the same song stuck in my head for three days.", "The only cure is a different, worse song.",
     "Please don't say the name or it'll be back."),
    ("Do you ever just sit in the car for five minutes before going inside?", "All the time. It's the only quiet part of the day.",
     "Glad it's not just me."),
    ("I finally fixed the wobbly kitchen table.", "A triumph of modern engineering.",
     "I'll be accepting applause all week."),
    ("I bought a new umbrella and it broke within a week.", "They really don't make them like they used to.",
     "Back to getting soaked, then."),
    ("I accidentally watched a whole documentary about {topic}.", "Those are the best kind of accidents.",
     "I now know far too much about it."),
    ("I'm thinking of repainting the bathroom.", "Go bold. Dark green is very fashionable, apparently.",
     "Dark green it is. Wish me luck."),
    ("I've been doing the crossword every morning over breakfast.", "Very civilised. I can never get the long ones.",
     "I cheat on the long ones, if I'm honest."),
    ("Every single pair of my socks has a hole in it now.", "Time for a big sock order, I think.",
     "Already in the basket."),
    ("The heating at work is either off or set to sauna.", "There's never a middle setting, is there?",
     "Someone keeps hiding the thermostat key, too."),
    ("Somebody left a very passive-aggressive note in the office kitchen.", "Oh no, the fridge wars have begun.",
     "It was about a yoghurt. A single yoghurt."),
    ("I was on hold with the bank for forty minutes today.", "Awful. That hold music will haunt you.",
     "It's still playing in my head now."),
    ("I think I've got a cold coming on.", "Honey, lemon and an early night. Doctor's orders.",
     "Honey and lemon it is."),
    ("I've been trying to walk ten thousand steps a day.", "I managed four thousand today, mostly to the fridge.",
     "The fridge route still counts, I reckon."),
    ("My favourite cafe changed its menu and I'm not okay.", "Change is hard. Especially when it involves cake.",
     "They took the lemon drizzle off. I may have to write a letter."),
    ("I watched the snooker last night, of all things.", "Strangely relaxing, isn't it?",
     "I fell asleep in the second frame, mind."),
    ("I've been reorganising my bookshelf by colour.", "That sounds lovely and completely impractical.",
     "Finding anything is going to be a nightmare."),
    ("I found a ten-pound note in an old coat pocket.", "Best feeling in the world.",
     "I spent it on cake immediately."),
    ("The power went out for an hour last night.", "We had one of those last month. I read by torchlight like a Victorian.",
     "It was quite peaceful, actually."),
    ("I've been craving {food} all week.", "Then you know what you have to make tonight.",
     "You've convinced me. Tonight's the night."),
    ("I tried one of those online yoga videos.", "I tried one once and fell over during the warm-up.",
     "That makes me feel better about my own attempt."),
    ("My downstairs neighbour has started learning the trumpet.", "Oh dear. Earplugs might be a wise investment.",
     "Adding them to my shopping list right now."),
)  # fmt: skip

SLOTS: dict[str, tuple[str, ...]] = {
    "show": ("The Lighthouse Keepers", "Salt and Stone", "Midnight Bakery", "The Quiet Inspector",
             "Northern Lines", "Harbour Wall"),
    "food": ("a lentil curry", "homemade pizza", "leek and potato soup", "a big pot of chilli",
             "shakshuka", "mushroom risotto"),
    "topic": ("the history of lighthouses", "deep sea creatures", "famous art forgeries",
              "the science of sleep", "the first ascent of Everest", "the invention of the zip"),
    "book": ("a thick novel about a family of clockmakers", "a mystery set on a night train",
             "a memoir by a retired lock-keeper", "a history of salt"),
    "game": ("that daily word puzzle everyone posts", "the new farming game", "online chess"),
    "day": ("Saturday", "Sunday", "Wednesday", "my day off"),
    "weather_cold": ("grey and drizzly", "bitterly cold", "windy enough to steal an umbrella",
                     "bright but freezing"),
    "weather_mild": ("grey and drizzly", "weirdly warm", "sunny one minute and pouring the next",
                     "windy enough to steal an umbrella"),
    "weather_warm": ("properly hot", "muggy and thundery", "weirdly warm",
                     "sunny one minute and pouring the next"),
}  # fmt: skip
