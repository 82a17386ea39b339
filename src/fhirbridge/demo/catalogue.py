"""The people, places and plans the demo data is made of (Region Gävleborg, seed 001)."""

from __future__ import annotations

from dataclasses import dataclass

REGION_ORG_NUMBER = "2321000198"  # Region Gävleborg
MUNICIPALITY_ORG_NUMBER = "2120002411"  # Gävle kommun


@dataclass(frozen=True)
class Unit:
    key: str
    name: str
    hsa_local: str
    org_number: str
    phone: str
    kind: str  # "region", "hospital", "primary", "municipality", "home-care"
    part_of: str | None = None
    city: str = "Gävle"


UNITS = (
    Unit("region", "Region Gävleborg", "R001", REGION_ORG_NUMBER, "026-15 40 00", "region"),
    Unit(
        "gavle-sjukhus-med",
        "Medicinkliniken, Gävle sjukhus",
        "G1MED",
        REGION_ORG_NUMBER,
        "026-15 45 10",
        "hospital",
        "region",
    ),
    Unit(
        "gavle-sjukhus-strok",
        "Strokeenheten, Gävle sjukhus",
        "G1STR",
        REGION_ORG_NUMBER,
        "026-15 46 20",
        "hospital",
        "region",
    ),
    Unit("vc-norrtull", "Vårdcentralen Norrtull", "VC0NT", REGION_ORG_NUMBER, "026-15 62 00", "primary", "region"),
    Unit("vc-brynas", "Vårdcentralen Brynäs", "VC0BR", REGION_ORG_NUMBER, "026-15 63 00", "primary", "region"),
    Unit(
        "vc-sandviken",
        "Vårdcentralen Sandviken",
        "VC0SA",
        REGION_ORG_NUMBER,
        "026-24 20 00",
        "primary",
        "region",
        "Sandviken",
    ),
    Unit("gavle-kommun", "Gävle kommun", "K001", MUNICIPALITY_ORG_NUMBER, "026-17 80 00", "municipality"),
    Unit(
        "hemsjukvard-gavle",
        "Hemsjukvården, Gävle kommun",
        "K0HSV",
        MUNICIPALITY_ORG_NUMBER,
        "026-17 85 50",
        "home-care",
        "gavle-kommun",
    ),
)


@dataclass(frozen=True)
class Clinician:
    key: str
    given: str
    family: str
    hsa_local: str
    unit: str
    role: str  # a care-role code
    title: str
    phone: str


CLINICIANS = (
    Clinician(
        "karin-lind", "Karin", "Lind", "P0KL1", "vc-norrtull", "diabetessjukskoterska", "Sjuksköterska", "026-15 62 14"
    ),
    Clinician(
        "ahmed-hassan",
        "Ahmed",
        "Hassan",
        "P0AH2",
        "vc-norrtull",
        "fast-lakarkontakt",
        "Specialist i allmänmedicin",
        "026-15 62 01",
    ),
    Clinician(
        "eva-sundin", "Eva", "Sundin", "P0ES3", "vc-brynas", "astma-kol-sjukskoterska", "Sjuksköterska", "026-15 63 22"
    ),
    Clinician(
        "johan-berg",
        "Johan",
        "Berg",
        "P0JB4",
        "vc-brynas",
        "fast-lakarkontakt",
        "Specialist i allmänmedicin",
        "026-15 63 02",
    ),
    Clinician(
        "maria-oberg",
        "Maria",
        "Öberg",
        "P0MO5",
        "gavle-sjukhus-med",
        "hjartsviktssjukskoterska",
        "Sjuksköterska",
        "026-15 45 33",
    ),
    Clinician(
        "lars-nyman",
        "Lars",
        "Nyman",
        "P0LN6",
        "gavle-sjukhus-med",
        "patientansvarig-lakare",
        "Överläkare",
        "026-15 45 01",
    ),
    Clinician(
        "sara-aslund",
        "Sara",
        "Åslund",
        "P0SA7",
        "gavle-sjukhus-strok",
        "fysioterapeut",
        "Fysioterapeut",
        "026-15 46 41",
    ),
    Clinician(
        "anna-wikstrom",
        "Anna",
        "Wikström",
        "P0AW8",
        "hemsjukvard-gavle",
        "distriktsskoterska",
        "Distriktssköterska",
        "026-17 85 61",
    ),
    Clinician(
        "peter-holm",
        "Peter",
        "Holm",
        "P0PH9",
        "hemsjukvard-gavle",
        "kommunal-arbetsterapeut",
        "Arbetsterapeut",
        "026-17 85 64",
    ),
    Clinician(
        "lina-karlsson",
        "Lina",
        "Karlsson",
        "P1LK0",
        "vc-sandviken",
        "patientansvarig-sjukskoterska",
        "Sjuksköterska",
        "026-24 20 17",
    ),
    Clinician(
        "omar-ali",
        "Omar",
        "Ali",
        "P1OA1",
        "vc-sandviken",
        "fast-lakarkontakt",
        "Specialist i allmänmedicin",
        "026-24 20 03",
    ),
)


@dataclass(frozen=True)
class Scenario:
    """One kind of patient contract: the conditions, the people and the words of the plan."""

    key: str
    condition: str
    fixed_contact: str  # clinician key
    fixed_doctor: str
    treating: tuple[str, ...]
    what_matters: str
    shared_goal: str
    my_part: str
    self_care: str
    care_part: str
    seek_care: str
    whom_to_contact: str  # no clock times: the hours are the PractitionerRole's availableTime
    channels: tuple[str, ...]
    next_contact: str
    sip_holder: str | None
    next_by_video: bool = False


SCENARIOS = (
    Scenario(
        "hjartsvikt",
        "Hjärtsvikt och förmaksflimmer",
        "maria-oberg",
        "ahmed-hassan",
        ("lars-nyman", "anna-wikstrom"),
        "Att orka gå till affären och träffa barnbarnen på söndagarna.",
        "Stabil vikt och inga nya inläggningar för hjärtsvikt under året.",
        "Jag promenerar 20 minuter varje dag och tar mina mediciner enligt dosetten.",
        "Jag väger mig varje morgon och skriver upp vikten i häftet.",
        "Hjärtsviktssjuksköterskan följer upp vikt, blodtryck och medicinering; läkaren justerar dosen vid behov.",
        "Ring om vikten ökar mer än 2 kg på tre dagar, om du blir andfådd i vila eller svullnar om benen.",
        "Ring din fasta vårdkontakt när hon går att nå. Andra tider: ring 1177. Vid bröstsmärta: ring 112.",
        ("telefon", "meddelande"),
        "Återbesök hos hjärtsviktssjuksköterskan",
        "gavle-kommun",
    ),
    Scenario(
        "diabetes",
        "Typ 2-diabetes med fotsår",
        "karin-lind",
        "ahmed-hassan",
        ("anna-wikstrom",),
        "Att kunna fortsätta sköta trädgården och åka till sommarstugan.",
        "HbA1c under 58 och att fotsåret läker före midsommar.",
        "Jag tar mitt blodsocker före frukost och följer kostråden från dietisten.",
        "Jag tittar på fötterna varje kväll och byter förband enligt instruktionen.",
        "Diabetessjuksköterskan följer blodsockret; distriktssköterskan lägger om såret två gånger i veckan.",
        "Sök vård samma dag om såret blir rött, varmt eller luktar, eller om du får feber.",
        "Skicka meddelande via 1177 eller ring din fasta vårdkontakt när hon går att nå.",
        ("meddelande", "telefon", "webbokning"),
        "Diabetesbesök med provtagning",
        None,
    ),
    Scenario(
        "kol",
        "KOL med syrgasbehandling",
        "eva-sundin",
        "johan-berg",
        ("anna-wikstrom", "peter-holm"),
        "Att kunna duscha själv och klara mig hemma utan flytt till boende.",
        "Färre försämringsperioder och att klara vardagen hemma med stöd.",
        "Jag gör andningsövningarna morgon och kväll och använder inhalatorn rätt.",
        "Jag har en egenvårdsplan för försämring med kortison i reserv enligt läkarens ordination.",
        "KOL-sjuksköterskan följer upp andningen; arbetsterapeuten ordnar hjälpmedel i badrummet.",
        "Ring om du får mer slem, feber eller blir mer andfådd än vanligt i mer än två dagar.",
        "Ring KOL-sjuksköterskan när hon går att nå. Helger: ring 1177.",
        ("telefon", "video"),
        "Videobesök hos KOL-sjuksköterskan",
        "gavle-kommun",
        next_by_video=True,
    ),
    Scenario(
        "stroke",
        "Genomgången stroke med halvsidig svaghet",
        "lina-karlsson",
        "omar-ali",
        ("sara-aslund", "peter-holm"),
        "Att kunna gå utan rollator och laga min egen mat igen.",
        "Gå 500 meter utomhus med käpp före hösten.",
        "Jag gör mitt träningsprogram tre gånger i veckan och går ut varje dag.",
        "Jag tar blodtrycket två gånger i veckan och för in värdena i appen.",
        "Fysioterapeuten leder träningen; arbetsterapeuten tränar matlagning i hemmet.",
        "Ring 112 direkt vid nya tecken på stroke: sned mun, svaghet i arm eller ben, sluddrigt tal.",
        "Ring din fasta vårdkontakt på vårdcentralen när hon går att nå.",
        ("telefon", "kallelse"),
        "Uppföljning hos fast vårdkontakt på vårdcentralen",
        "gavle-kommun",
    ),
)

GIVEN_FEMALE = (
    "Anna",
    "Margareta",
    "Elisabeth",
    "Eva",
    "Birgitta",
    "Kristina",
    "Karin",
    "Ingrid",
    "Marianne",
    "Gunnel",
    "Åsa",
    "Märta",
)
GIVEN_MALE = ("Lars", "Karl", "Erik", "Anders", "Per", "Nils", "Sven", "Gunnar", "Bengt", "Göran", "Åke", "Olof")
FAMILY = (
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Pettersson",
    "Jonsson",
    "Jansson",
    "Hansson",
    "Bengtsson",
    "Lindström",
    "Sjöberg",
    "Åkesson",
)
STREETS = (
    "Norra Kungsgatan",
    "Södra Skeppsbron",
    "Hamiltongatan",
    "Drottninggatan",
    "Brynäsgatan",
    "Sätragatan",
    "Kaserngatan",
)
