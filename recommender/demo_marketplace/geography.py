"""Static reference data for the demo marketplace: categories, producing regions and their goods,
seasonal profiles, product variants and buyer cities. Data only; the generator holds the logic.

Prices are typical retail prices in CNY for the base variant. ``weight`` is a product's relative
share of listings in its region. ``priority`` marks regions that were formerly poverty-stricken
counties (the beneficiaries of e-commerce poverty-alleviation programmes); the labelling is a
plausible simplification for demo purposes, not an official list.
"""
from __future__ import annotations

from typing import NamedTuple


class Category(NamedTuple):
    name: str
    kind: str  # "produce" or "handicraft"
    share: float  # relative share of market demand
    repeat_prob: float  # chance that one purchase is followed by a repeat of the same item
    repeat_days: float  # typical days until the repeat
    label: str


class Region(NamedTuple):
    code: str  # item ids start with it
    name: str
    short: str  # used in titles
    province: str
    priority: bool  # formerly poverty-stricken county
    about: str
    popularity: float = 1.0  # relative pull of the region's brand


class Product(NamedTuple):
    region: str  # region code
    name: str
    category: str
    price: float  # CNY, base variant
    season: str  # key of SEASON_PROFILES
    variants: str  # key of VARIANTS
    material: str
    usage: str
    weight: float = 1.0
    handmade: bool = False
    fresh: bool = False
    gift: bool = False
    gi: bool = False  # geographical indication product
    organic: float = 0.0  # share of listings certified organic


class City(NamedTuple):
    name: str
    province: str
    tier: int
    weight: float  # relative number of buyers within the tier


CATEGORIES: tuple[Category, ...] = (
    # produce (consumables: bought again after weeks)
    Category("fresh_fruit", "produce", 0.13, 0.12, 10, "fresh fruit"),
    Category("vegetables", "produce", 0.03, 0.20, 20, "vegetables"),
    Category("tea", "produce", 0.14, 0.40, 40, "tea"),
    Category("coffee", "produce", 0.05, 0.45, 28, "coffee"),
    Category("mushrooms_fungi", "produce", 0.07, 0.30, 45, "mushrooms and fungi"),
    Category("honey", "produce", 0.05, 0.30, 55, "honey"),
    Category("grains", "produce", 0.07, 0.42, 30, "rice and grains"),
    Category("dried_fruit_nuts", "produce", 0.08, 0.30, 40, "dried fruit and nuts"),
    Category("meat_dairy", "produce", 0.03, 0.25, 35, "meat and dairy"),
    # handicrafts (durable: rarely bought twice)
    Category("weaving_rattan", "handicraft", 0.05, 0.0, 0, "weaving and rattan"),
    Category("ceramics", "handicraft", 0.05, 0.0, 0, "ceramics"),
    Category("teaware", "handicraft", 0.05, 0.0, 0, "teaware"),
    Category("embroidery_textiles", "handicraft", 0.04, 0.0, 0, "embroidery and textiles"),
    Category("woodwork", "handicraft", 0.04, 0.0, 0, "wood carving and woodwork"),
    Category("silver_jewelry", "handicraft", 0.03, 0.0, 0, "silver jewelry"),
    Category("kitchenware", "handicraft", 0.04, 0.0, 0, "kitchenware"),
    Category("glassware", "handicraft", 0.02, 0.0, 0, "glassware"),
    Category("ornaments", "handicraft", 0.02, 0.0, 0, "festive ornaments"),
    Category("folk_art", "handicraft", 0.01, 0.0, 0, "folk art"),
)

# Relative demand per calendar month (January first); the generator scales each to a peak of 1.
SEASON_PROFILES: dict[str, tuple[float, ...]] = {
    "flat": (1,) * 12,
    "summer": (0.04, 0.04, 0.08, 0.25, 0.65, 1.0, 1.0, 0.8, 0.25, 0.06, 0.04, 0.04),
    "lychee": (0.005, 0.005, 0.005, 0.01, 0.12, 1.0, 0.18, 0.01, 0.005, 0.005, 0.005, 0.005),
    "pomegranate": (0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.1, 0.6, 1.0, 0.9, 0.5, 0.1),
    "citrus_winter": (0.9, 0.45, 0.12, 0.03, 0.02, 0.02, 0.02, 0.02, 0.02, 0.15, 0.8, 1.0),
    "apples_autumn": (0.45, 0.25, 0.12, 0.08, 0.06, 0.06, 0.06, 0.1, 0.4, 1.0, 1.0, 0.7),
    "kiwi": (0.15, 0.05, 0.03, 0.03, 0.03, 0.03, 0.03, 0.15, 0.7, 1.0, 0.7, 0.3),
    "winter_potato": (0.8, 1.0, 1.0, 0.8, 0.4, 0.12, 0.08, 0.08, 0.08, 0.1, 0.15, 0.4),
    "winter_vegetable": (0.6, 0.3, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.1, 0.3, 1.0, 0.9),
    "wild_mushroom": (0.01, 0.01, 0.01, 0.02, 0.1, 0.6, 1.0, 1.0, 0.6, 0.2, 0.02, 0.01),
    "spring_tea": (0.3, 0.3, 0.8, 1.0, 0.7, 0.45, 0.35, 0.3, 0.3, 0.35, 0.35, 0.35),
    "oolong": (0.5, 0.5, 0.5, 0.8, 0.9, 0.6, 0.5, 0.5, 0.6, 1.0, 0.8, 0.6),
    "autumn_harvest": (0.8, 0.5, 0.35, 0.3, 0.3, 0.3, 0.3, 0.35, 0.6, 1.0, 1.0, 1.0),
    "new_grain": (0.75, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.55, 0.85, 1.0, 0.9),
    "honey": (0.6, 0.55, 0.55, 0.6, 0.7, 0.85, 1.0, 0.9, 0.7, 0.65, 0.65, 0.65),
    "winter_warm": (1.0, 0.6, 0.3, 0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.55, 0.9, 1.0),
    "new_year_decor": (1.0, 0.7, 0.15, 0.1, 0.1, 0.1, 0.1, 0.1, 0.15, 0.2, 0.35, 0.8),
}

# Profiles whose items are tagged "seasonal".
SEASONAL_PROFILES = frozenset(
    name for name, months in SEASON_PROFILES.items() if min(months) / max(months) < 0.25
)

# Variant label, price multiplier, gift packaging.
VARIANTS: dict[str, tuple[tuple[str, float, bool], ...]] = {
    "fan": (("Small, 25 cm", 0.75, False), ("Medium, 32 cm", 1.0, False),
            ("Large, 40 cm", 1.35, False), ("Family Set of 3", 2.4, False)),
    "basket": (("Small", 0.7, False), ("Medium", 1.0, False), ("Large", 1.5, False),
               ("Nesting Set of 3", 2.6, False)),
    "comb": (("Wide Tooth", 1.0, False), ("Fine Tooth", 1.0, False), ("Pocket Size", 0.7, False),
             ("Engraved, Gift Box", 2.2, True)),
    "craft_piece": (("Standard", 1.0, False), ("Large", 1.6, False),
                    ("Collector's Edition", 2.8, True)),
    "gift_craft": (("Standard", 1.0, False), ("Gift Box", 1.3, True), ("Pair", 1.9, True)),
    "cups": (("Set of 2", 0.6, False), ("Set of 4", 1.0, False), ("Set of 6", 1.4, False),
             ("Gift Set", 1.8, True)),
    "tableware": (("Single", 0.45, False), ("Set of 4", 1.0, False), ("Set of 8", 1.8, False),
                  ("Gift Set", 1.6, True)),
    "teapot": (("Xishi Style, 180 ml", 1.0, False), ("Shipiao Style, 220 ml", 1.15, False),
               ("Large, 300 ml", 1.35, False), ("Master-made with Certificate", 3.0, True)),
    "wok": (("30 cm", 0.9, False), ("32 cm", 1.0, False), ("34 cm", 1.12, False),
            ("32 cm with Wooden Lid", 1.3, False)),
    "jewelry": (("Classic", 1.0, False), ("Engraved", 1.25, False), ("Festival Style", 1.6, False),
                ("Gift Box", 1.2, True)),
    "textile": (("Small", 0.7, False), ("Standard", 1.0, False), ("Large", 1.6, False),
                ("Framed Gift Edition", 2.5, True)),
    "ornament": (("Single", 0.6, False), ("Pair", 1.0, False), ("Set of 6", 2.2, False),
                 ("Festival Gift Pack", 1.8, True)),
    "papercut": (("Set of 10", 0.6, False), ("Set of 20", 1.0, False), ("Framed", 3.0, True)),
    "tea": (("Standard Grade, 100 g", 0.55, False), ("Premium Grade, 250 g", 1.0, False),
            ("Premium Grade, 500 g", 1.8, False), ("Top Grade Gift Tin, 250 g", 1.9, True)),
    "tea_cake": (("357 g Cake", 1.0, False), ("Mini Cakes, 200 g", 0.6, False),
                 ("Aged 2018 Harvest, 357 g", 1.9, False), ("Gift Box, 2 Cakes", 2.3, True)),
    "coffee": (("Light Roast, 250 g", 0.6, False), ("Medium Roast, 500 g", 1.0, False),
               ("Dark Roast, 500 g", 1.0, False), ("Medium Roast, 1 kg", 1.8, False)),
    "drip": (("10 Bags", 0.6, False), ("20 Bags", 1.0, False), ("50 Bags", 2.2, False)),
    "fruit_box": (("2.5 kg Box", 0.6, False), ("5 kg Box", 1.0, False),
                  ("Premium 5 kg Box", 1.35, False), ("Gift Box", 1.5, True)),
    "fruit_count": (("8 Fruits", 0.65, False), ("12 Fruits", 1.0, False),
                    ("Large Fruit, 12 pcs", 1.4, False), ("Gift Box", 1.6, True)),
    "veg": (("2.5 kg", 0.55, False), ("5 kg", 1.0, False), ("10 kg", 1.8, False)),
    "dried": (("250 g", 0.55, False), ("500 g", 1.0, False), ("1 kg", 1.8, False),
              ("Gift Box, 1 kg", 2.3, True)),
    "mushroom_fresh": (("500 g", 1.0, False), ("1 kg", 1.9, False),
                       ("Select Grade, 500 g", 1.4, False)),
    "honey": (("250 g", 0.55, False), ("500 g", 1.0, False), ("1 kg", 1.8, False),
              ("Gift Set, 2 x 500 g", 2.2, True)),
    "grain": (("2.5 kg", 0.55, False), ("5 kg", 1.0, False), ("10 kg", 1.85, False),
              ("Gift Box, 5 kg", 1.4, True)),
    "meat": (("250 g", 0.6, False), ("500 g", 1.0, False), ("Family Pack, 1 kg", 1.85, False),
             ("Gift Box", 1.5, True)),
}

REGIONS: tuple[Region, ...] = (
    Region("FH", "Fenghuang County, Hunan", "Fenghuang", "Hunan", True,
           "an old Miao and Tujia town on the Tuo River in western Hunan where families still "
           "weave palm leaves and bamboo by hand", 1.2),
    Region("LQ", "Langqiao Town, Xuancheng, Anhui", "Langqiao", "Anhui", False,
           "a town in southern Anhui whose workshops have carved wooden combs from boxwood and "
           "peach wood for generations", 0.8),
    Region("JDZ", "Jingdezhen, Jiangxi", "Jingdezhen", "Jiangxi", False,
           "the porcelain capital of China, firing kilns for more than a thousand years", 1.6),
    Region("YX", "Dingshu Town, Yixing, Jiangsu", "Yixing", "Jiangsu", False,
           "the home of zisha purple clay, dug from local hills and shaped by hand into teapots", 1.4),
    Region("DX", "Dongxing, Guangxi", "Dongxing", "Guangxi", False,
           "a border city on the Beibu Gulf known for redwood furniture and carving workshops", 0.8),
    Region("ZQ", "Zhangqiu District, Jinan, Shandong", "Zhangqiu", "Shandong", False,
           "a district of Jinan famous for iron woks hammered by hand thousands of times", 1.3),
    Region("QX", "Qi County, Jinzhong, Shanxi", "Qixian", "Shanxi", False,
           "China's glassware capital, where factories and family workshops blow glass", 0.7),
    Region("YW", "Yiwu, Zhejiang", "Yiwu", "Zhejiang", False,
           "the world's small-commodities hub, where family workshops make festive ornaments", 1.0),
    Region("PL", "Pingli County, Ankang, Shaanxi", "Pingli", "Shaanxi", True,
           "a county in the Qinba Mountains whose terraced gardens grow Gynostemma, the "
           "'southern ginseng'", 0.7),
    Region("LC", "Lancang Lahu Autonomous County, Pu'er, Yunnan", "Lancang", "Yunnan", True,
           "a Lahu county where scientists and farmers grow winter potatoes on once-fallow fields",
           0.8),
    Region("BS", "Baoshan, Yunnan", "Baoshan", "Yunnan", True,
           "where small-bean Arabica coffee grows on the warm slopes of the Nu River valley", 1.0),
    Region("HL", "Huili, Liangshan, Sichuan", "Huili", "Sichuan", False,
           "a sunny valley county in Liangshan and one of China's largest pomegranate growers", 1.1),
    Region("CH", "Conghua District, Guangzhou, Guangdong", "Conghua", "Guangdong", False,
           "a hilly district north of Guangzhou with centuries-old lychee orchards and beekeepers",
           1.2),
    Region("JH", "Jianhe County, Qiandongnan, Guizhou", "Jianhe", "Guizhou", True,
           "a Miao and Dong county in Guizhou that turned its forests into a base for edible fungi",
           0.8),
    Region("NH", "Nanhua County, Chuxiong, Yunnan", "Nanhua", "Yunnan", True,
           "the 'kingdom of wild mushrooms', where Yi villagers forage the pine forests each "
           "rainy season", 0.7),
    Region("DM", "Damxung County, Lhasa, Tibet", "Damxung", "Tibet", True,
           "a high grassland county north of Lhasa where herders raise yaks at 4,200 metres", 0.8),
    Region("AX", "Anxi County, Quanzhou, Fujian", "Anxi", "Fujian", False,
           "the birthplace of Tieguanyin oolong tea, grown on misty hillside terraces", 1.4),
    Region("WY", "Wuyishan, Fujian", "Wuyi", "Fujian", False,
           "a UNESCO-listed mountain range whose rocky cliffs give Wuyi rock tea its mineral "
           "character", 1.3),
    Region("ZN", "Zhongning County, Ningxia", "Ningxia", "Ningxia", False,
           "the goji heartland on the Yellow River, irrigated by canals two thousand years old", 1.2),
    Region("HT", "Hotan, Xinjiang", "Hotan", "Xinjiang", True,
           "a desert oasis where jujube orchards ripen in long dry sunshine", 1.0),
    Region("TP", "Turpan, Xinjiang", "Turpan", "Xinjiang", False,
           "the hottest oasis in China, drying seedless grapes in airy brick houses", 0.9),
    Region("LS", "Leishan County, Qiandongnan, Guizhou", "Leishan", "Guizhou", True,
           "home of Xijiang, the largest Miao village, where silversmith families hammer festival "
           "silver by hand", 0.9),
    Region("ZH", "Zhenhu Town, Suzhou, Jiangsu", "Suzhou", "Jiangsu", False,
           "a town of thousands of embroiderers keeping Su embroidery alive", 1.0),
    Region("AJ", "Anji County, Huzhou, Zhejiang", "Anji", "Zhejiang", False,
           "a bamboo-forest county known for bamboo crafts and Anji white tea", 1.1),
    Region("WC", "Wuchang, Harbin, Heilongjiang", "Wuchang", "Heilongjiang", False,
           "black-soil paddies along the Lalin River that grow Daohuaxiang fragrant rice", 1.3),
    Region("DN", "Dongning, Mudanjiang, Heilongjiang", "Dongning", "Heilongjiang", False,
           "a forest county on the Russian border known for black fungus", 0.8),
    Region("XW", "Xunwu County, Ganzhou, Jiangxi", "Gannan", "Jiangxi", True,
           "a former revolutionary base in southern Jiangxi whose hills are covered in navel "
           "orange groves", 1.1),
    Region("ZT", "Zhaoyang District, Zhaotong, Yunnan", "Zhaotong", "Yunnan", True,
           "a high plateau in northeast Yunnan where cold nights make apples crisp and sweet", 0.8),
    Region("CX", "Cangxi County, Guangyuan, Sichuan", "Cangxi", "Sichuan", True,
           "a hill county in northern Sichuan and the birthplace of the red-heart kiwifruit", 0.8),
    Region("YB", "Yangbi Yi Autonomous County, Dali, Yunnan", "Yangbi", "Yunnan", True,
           "a Yi county in Dali covered in old walnut forests", 0.7),
    Region("MZ", "Mizhi County, Yulin, Shaanxi", "Mizhi", "Shaanxi", True,
           "a county of loess hills where farmers grow golden millet on terraced fields", 0.7),
    Region("DZ", "Danzhai County, Qiandongnan, Guizhou", "Danzhai", "Guizhou", True,
           "a Miao county famous for batik, wax-resist dyeing with home-grown indigo", 0.7),
    Region("JC", "Jianchuan County, Dali, Yunnan", "Jianchuan", "Yunnan", True,
           "a Bai county whose carvers make lattice windows, panels and furniture", 0.6),
    Region("YU", "Yu County, Zhangjiakou, Hebei", "Yuxian", "Hebei", True,
           "the home of dyed paper-cutting, carving festive window flowers by hand", 0.6),
    Region("MH", "Menghai County, Xishuangbanna, Yunnan", "Menghai", "Yunnan", False,
           "the land of ancient tea trees and the heart of Pu'er tea making", 1.2),
    Region("SQ", "Shiqian County, Tongren, Guizhou", "Shiqian", "Guizhou", True,
           "a mountain county in Guizhou whose mossy, misty gardens give Shiqian tea its name", 0.6),
    Region("SJ", "Sanjiang Dong Autonomous County, Liuzhou, Guangxi", "Sanjiang", "Guangxi", True,
           "a Dong county of wind-and-rain bridges, embroidery and early spring tea", 0.6),
    Region("JS", "Jianshui County, Honghe, Yunnan", "Jianshui", "Yunnan", False,
           "an old town in southern Yunnan famous for purple pottery and steam pots", 0.8),
    Region("ZX", "Zhuxi County, Shiyan, Hubei", "Zhuxi", "Hubei", True,
           "a remote county in the Qinba Mountains where beekeepers keep Chinese honeybees in log "
           "hives", 0.7),
    Region("FS", "Fusong County, Baishan, Jilin", "Changbai", "Jilin", False,
           "a forest county at the foot of Changbai Mountain, with linden honey and wild ginseng",
           0.9),
    Region("YC", "Yanchi County, Wuzhong, Ningxia", "Yanchi", "Ningxia", True,
           "a dry steppe county whose Tan sheep graze on licorice and wild herbs", 0.6),
    Region("WN", "Wuyuan County, Shangrao, Jiangxi", "Wuyuan", "Jiangxi", True,
           "a county of Huizhou-style villages, green tea gardens and rapeseed fields", 0.7),
)

PRODUCTS: tuple[Product, ...] = (
    # Fenghuang, Hunan
    Product("FH", "Palm-Leaf Fan", "weaving_rattan", 25, "summer", "fan",
            "hand-woven from sun-dried palm leaves with a bamboo handle",
            "keeps you cool on hot summer days and doubles as a nostalgic decoration",
            weight=2.5, handmade=True),
    Product("FH", "Woven Bamboo Basket", "weaving_rattan", 68, "flat", "basket",
            "split bamboo woven in a traditional Miao hexagon pattern",
            "for fruit, bread, vegetables or storage around the home", weight=1.2, handmade=True),
    Product("FH", "Tujia Brocade Table Runner", "embroidery_textiles", 128, "flat", "textile",
            "Xilankapu brocade woven on a wooden loom from cotton and silk",
            "brightens a dining table or tea table", weight=0.8, handmade=True, gift=True),
    # Langqiao, Anhui
    Product("LQ", "Boxwood Comb", "woodwork", 58, "flat", "comb",
            "carved from seasoned boxwood and hand-polished with plant oil",
            "gentle on the scalp, reduces static and lasts for years", weight=2.0, handmade=True),
    Product("LQ", "Peach Wood Comb", "woodwork", 39, "flat", "comb",
            "cut from peach wood and sanded smooth tooth by tooth",
            "for daily hair care; peach wood is a traditional token of good luck", handmade=True),
    Product("LQ", "Sandalwood Hairpin", "woodwork", 49, "flat", "gift_craft",
            "carved from fragrant sandalwood", "holds long hair in a classic bun",
            weight=0.6, handmade=True, gift=True),
    # Jingdezhen, Jiangxi
    Product("JDZ", "Blue-and-White Porcelain Tea Cups", "ceramics", 88, "flat", "cups",
            "hand-painted cobalt on white porcelain, fired at 1,300 degrees",
            "for tea at home or as a gift", weight=2.0, handmade=True, gift=True, gi=True),
    Product("JDZ", "Hand-painted Porcelain Vase", "ceramics", 268, "flat", "craft_piece",
            "thrown on the wheel and painted with famille-rose enamels",
            "a centrepiece for living rooms and studies", weight=1.2, handmade=True, gift=True,
            gi=True),
    Product("JDZ", "Celadon Rice Bowl", "ceramics", 99, "flat", "tableware",
            "jade-green celadon glaze over fine porcelain clay", "everyday tableware that is oven safe",
            weight=1.5, gi=True),
    Product("JDZ", "Porcelain Kung Fu Tea Set", "teaware", 398, "flat", "gift_craft",
            "eggshell-thin porcelain gaiwan, pitcher and cups",
            "for gongfu tea ceremonies and family gatherings", weight=1.0, handmade=True, gift=True),
    # Yixing, Jiangsu
    Product("YX", "Zisha Purple Clay Teapot", "teaware", 380, "flat", "teapot",
            "hand-built from Yixing zisha clay, unglazed so it seasons with every brew",
            "best for oolong and pu'er tea", weight=2.5, handmade=True, gift=True, gi=True),
    Product("YX", "Zisha Tea Cups", "teaware", 68, "flat", "cups",
            "small cups of red and purple Yixing clay", "pairs with a gongfu teapot",
            weight=1.0, handmade=True, gi=True),
    # Dongxing, Guangxi
    Product("DX", "Mahogany Carved Ornament", "woodwork", 288, "flat", "craft_piece",
            "carved from rosewood in deep relief and finished with beeswax",
            "a lucky ornament for the home or office", weight=1.5, handmade=True, gift=True),
    Product("DX", "Rosewood Tea Tray", "teaware", 468, "flat", "craft_piece",
            "solid rosewood with a drainage channel, carved by hand",
            "the base of a gongfu tea table", weight=1.0, handmade=True),
    Product("DX", "Mahogany Jewelry Box", "woodwork", 198, "flat", "gift_craft",
            "mortise-and-tenon mahogany with a brass clasp", "keeps jewelry and keepsakes",
            weight=0.8, handmade=True, gift=True),
    # Zhangqiu, Shandong
    Product("ZQ", "Hand-forged Iron Wok", "kitchenware", 268, "flat", "wok",
            "low-carbon iron hammered by hand over many thousands of blows",
            "for high-heat stir-frying; naturally non-stick once seasoned", weight=2.5,
            handmade=True, gi=True),
    Product("ZQ", "Iron Frying Pan", "kitchenware", 168, "flat", "wok",
            "pressed and hand-finished cast iron", "for eggs, dumplings and pan-fried buns"),
    Product("ZQ", "Zhangqiu Giant Scallion", "vegetables", 39, "winter_vegetable", "veg",
            "sweet, tall scallions grown in the fertile Jinan plain",
            "a staple for stir-fries and dumplings", weight=0.6, fresh=True, gi=True),
    # Qixian, Shanxi
    Product("QX", "Hand-blown Glass Tea Cups", "glassware", 59, "flat", "cups",
            "double-walled borosilicate glass blown by hand", "keeps tea hot and hands cool",
            weight=1.5, handmade=True),
    Product("QX", "Crystal Glass Vase", "glassware", 89, "flat", "craft_piece",
            "lead-free crystal glass", "for flowers and dried branches"),
    Product("QX", "Glass Teapot with Infuser", "glassware", 79, "flat", "tableware",
            "heat-resistant glass with a stainless infuser", "for flower and green teas"),
    # Yiwu, Zhejiang
    Product("YW", "Chinese Knot Wall Hanging", "ornaments", 29, "new_year_decor", "ornament",
            "knotted from red silk cord with tassels", "brings luck to doors and walls at New Year",
            weight=1.5, handmade=True, gift=True),
    Product("YW", "Red Silk Lantern", "ornaments", 39, "new_year_decor", "ornament",
            "silk over a folding bamboo frame", "a classic Spring Festival decoration",
            weight=1.2, gift=True),
    Product("YW", "Lucky Cat Figurine", "ornaments", 35, "flat", "ornament",
            "resin figurine painted in gold and red", "welcomes wealth in shops and homes"),
    # Pingli, Shaanxi
    Product("PL", "Gynostemma (Jiaogulan) Herbal Tea", "tea", 48, "spring_tea", "tea",
            "young Gynostemma leaves picked in spring and dried in the shade",
            "a caffeine-free herbal tea for daily drinking", weight=2.0, gi=True, organic=0.5),
    Product("PL", "Pingli Green Tea", "tea", 78, "spring_tea", "tea",
            "early-spring buds from high mountain gardens, pan-fired by hand",
            "a fresh, chestnut-scented green tea", organic=0.3),
    # Lancang, Yunnan
    Product("LC", "Winter Potatoes", "vegetables", 29.9, "winter_potato", "veg",
            "grown on winter fields in the subtropical valleys of Lancang",
            "for roasting, mashing or hot pot", weight=2.0, fresh=True, organic=0.2),
    Product("LC", "Purple Potatoes", "vegetables", 39.9, "winter_potato", "veg",
            "purple-fleshed potatoes rich in anthocyanins", "for steaming and colourful dishes",
            fresh=True),
    # Baoshan, Yunnan
    Product("BS", "Small-bean Arabica Coffee Beans", "coffee", 88, "flat", "coffee",
            "shade-grown Arabica, sun-dried and roasted in small batches",
            "for pour-over, espresso or French press", weight=2.5, gi=True, organic=0.2),
    Product("BS", "Drip Bag Coffee", "coffee", 59, "flat", "drip",
            "freshly ground Arabica sealed in single drip bags",
            "a quick cup at the office or on the road", weight=1.5),
    # Huili, Sichuan
    Product("HL", "Soft-seed Pomegranates", "fresh_fruit", 69, "pomegranate", "fruit_count",
            "grown at 1,500 metres on sunny valley slopes; seeds soft enough to chew",
            "eat fresh or press for juice", weight=2.5, fresh=True, gi=True),
    # Conghua, Guangdong
    Product("CH", "Fresh Lychee", "fresh_fruit", 79, "lychee", "fruit_box",
            "Nuomici and Feizixiao lychees picked at dawn and shipped cold",
            "a short summer treat, best eaten within three days", weight=2.5, fresh=True, gi=True),
    Product("CH", "Lychee Honey", "honey", 68, "honey", "honey",
            "raw honey from bees foraging the lychee orchards in bloom",
            "stir into warm water or spread on toast", weight=1.5, organic=0.3),
    # Jianhe, Guizhou
    Product("JH", "Dried Shiitake Mushrooms", "mushrooms_fungi", 49, "flat", "dried",
            "log-grown shiitake, dried slowly over low heat", "for soups, stews and stir-fries",
            weight=2.0, organic=0.4),
    Product("JH", "Black Wood Ear Fungus", "mushrooms_fungi", 39, "flat", "dried",
            "small, thick wood ears grown on oak logs", "soak and use in cold dishes or stir-fries",
            organic=0.3),
    Product("JH", "Snow Fungus (Tremella)", "mushrooms_fungi", 45, "flat", "dried",
            "whole tremella dried in the sun", "for sweet soups with goji and dates"),
    # Nanhua, Yunnan
    Product("NH", "Fresh Wild Porcini", "mushrooms_fungi", 168, "wild_mushroom", "mushroom_fresh",
            "foraged in pine forests during the rainy season and shipped chilled",
            "slice and stir-fry with chilli, or add to hot pot", weight=1.5, fresh=True),
    Product("NH", "Wild Matsutake", "mushrooms_fungi", 388, "wild_mushroom", "mushroom_fresh",
            "hand-dug matsutake graded and shipped within a day",
            "a rare delicacy for grilling or soup", fresh=True, gift=True),
    Product("NH", "Dried Porcini Slices", "mushrooms_fungi", 98, "flat", "dried",
            "wild porcini sliced and air-dried", "an umami boost for risotto and braises"),
    # Damxung, Tibet
    Product("DM", "Air-dried Yak Jerky", "meat_dairy", 88, "flat", "meat",
            "grass-fed yak meat air-dried on the plateau", "a high-protein snack", weight=2.0),
    Product("DM", "Yak Butter", "meat_dairy", 59, "winter_warm", "meat",
            "churned from yak milk by herding families", "for butter tea and baking"),
    Product("DM", "Yak Wool Scarf", "embroidery_textiles", 268, "winter_warm", "textile",
            "spun and woven from the soft undercoat of yaks", "warm as cashmere on cold days",
            weight=1.2, handmade=True, gift=True),
    # Anxi, Fujian
    Product("AX", "Tieguanyin Oolong Tea", "tea", 128, "oolong", "tea",
            "rolled oolong leaves, semi-oxidised and roasted to an orchid aroma",
            "brew gongfu style many times", weight=3.0, gift=True, gi=True),
    Product("AX", "Aged Charcoal-roasted Tieguanyin", "tea", 168, "oolong", "tea",
            "traditional heavy-roast oolong rested for a year", "a warming tea for winter",
            gi=True),
    # Wuyishan, Fujian
    Product("WY", "Da Hong Pao Rock Tea", "tea", 168, "oolong", "tea",
            "cliff-grown oolong, charcoal-roasted for a mineral finish",
            "a famous gift tea for elders and business partners", weight=2.5, gift=True, gi=True),
    Product("WY", "Lapsang Souchong Black Tea", "tea", 98, "spring_tea", "tea",
            "the original smoked black tea, dried over pinewood", "brew strong, with or without milk",
            weight=1.2, gi=True),
    # Zhongning, Ningxia
    Product("ZN", "Dried Goji Berries", "dried_fruit_nuts", 45, "flat", "dried",
            "sun-dried Ningxia goji, large and sweet", "for tea, soups and porridge",
            weight=2.5, gi=True, organic=0.3),
    Product("ZN", "Black Goji Berries", "dried_fruit_nuts", 88, "flat", "dried",
            "wild black goji from the desert edge", "steep in water for a violet-blue drink"),
    # Hotan, Xinjiang
    Product("HT", "Hotan Jade Jujubes", "dried_fruit_nuts", 49, "autumn_harvest", "dried",
            "large red dates dried on the tree in the desert sun",
            "a snack or a sweetener for soups", weight=2.5, gi=True),
    # Turpan, Xinjiang
    Product("TP", "Green Seedless Raisins", "dried_fruit_nuts", 39, "autumn_harvest", "dried",
            "grapes air-dried in traditional brick drying houses",
            "snack on them or bake with them", weight=2.0, gi=True),
    Product("TP", "Turpan Dried Apricots", "dried_fruit_nuts", 45, "autumn_harvest", "dried",
            "whole apricots dried with the stone inside", "a sweet-sour snack"),
    # Leishan, Guizhou
    Product("LS", "Miao Silver Bracelet", "silver_jewelry", 288, "flat", "jewelry",
            "hammered and chased by hand from fine silver", "worn for festivals, weddings and every day",
            weight=2.0, handmade=True, gift=True),
    Product("LS", "Miao Silver Earrings", "silver_jewelry", 128, "flat", "jewelry",
            "filigree silver in butterfly and bird motifs", "light enough for daily wear",
            weight=1.5, handmade=True, gift=True),
    Product("LS", "Miao Silver Pendant Necklace", "silver_jewelry", 368, "flat", "jewelry",
            "a longevity lock pendant on a silver chain", "a blessing gift for children and friends",
            handmade=True, gift=True),
    Product("LS", "Leishan Silver Ball Tea", "tea", 88, "spring_tea", "tea",
            "tender green tea buds rolled into small pearls", "bright, sweet green tea",
            weight=0.8, gi=True, organic=0.3),
    # Suzhou, Jiangsu
    Product("ZH", "Su Embroidery Silk Painting", "embroidery_textiles", 680, "flat", "textile",
            "double-sided silk embroidery stitched with hair-fine threads",
            "an heirloom piece for the wall or a screen", weight=1.5, handmade=True, gift=True,
            gi=True),
    Product("ZH", "Embroidered Silk Fan", "embroidery_textiles", 168, "summer", "gift_craft",
            "a round silk fan embroidered with flowers and birds", "an elegant summer accessory",
            handmade=True, gift=True),
    Product("ZH", "Embroidered Silk Scarf", "embroidery_textiles", 298, "flat", "textile",
            "mulberry silk with hand-embroidered borders", "a light scarf for every season",
            handmade=True, gift=True),
    # Anji, Zhejiang
    Product("AJ", "Bamboo Storage Basket", "weaving_rattan", 79, "flat", "basket",
            "woven from moso bamboo strips", "tidies shelves, toys and laundry", weight=1.5,
            handmade=True),
    Product("AJ", "Bamboo Cutting Board", "kitchenware", 59, "flat", "tableware",
            "laminated moso bamboo, oiled with food-grade oil", "a light, hard-wearing board"),
    Product("AJ", "Anji White Tea", "tea", 198, "spring_tea", "tea",
            "pale spring leaves rich in amino acids", "a delicate, brothy green tea",
            weight=2.0, gift=True, gi=True),
    # Wuchang, Heilongjiang
    Product("WC", "Daohuaxiang Fragrant Rice", "grains", 69, "new_grain", "grain",
            "single-season rice grown in black soil and irrigated by mountain streams",
            "fragrant and sticky, perfect plain or in congee", weight=3.0, gi=True, organic=0.3),
    # Dongning, Heilongjiang
    Product("DN", "Northeast Black Fungus", "mushrooms_fungi", 45, "flat", "dried",
            "autumn wood ears grown on forest logs", "crunchy in cold dishes and stir-fries",
            weight=2.0, organic=0.3),
    Product("DN", "Wild Hazelnuts", "dried_fruit_nuts", 58, "autumn_harvest", "dried",
            "wild hazelnuts roasted in their shells", "a winter snack", weight=0.8),
    # Xunwu, Jiangxi
    Product("XW", "Gannan Navel Oranges", "fresh_fruit", 59, "citrus_winter", "fruit_box",
            "tree-ripened navel oranges from red-soil hills", "juicy winter fruit for the family",
            weight=2.5, fresh=True, gi=True),
    # Zhaotong, Yunnan
    Product("ZT", "Zhaotong Sugar-heart Apples", "fresh_fruit", 59, "apples_autumn", "fruit_box",
            "high-altitude apples with a translucent sugar core", "crisp and sweet, eaten fresh",
            weight=2.0, fresh=True, gi=True),
    # Cangxi, Sichuan
    Product("CX", "Red-heart Kiwifruit", "fresh_fruit", 69, "kiwi", "fruit_count",
            "kiwifruit with a ruby-red core, ripened after picking", "sweet, low in acid",
            weight=2.0, fresh=True, gi=True),
    # Yangbi, Yunnan
    Product("YB", "Thin-shell Walnuts", "dried_fruit_nuts", 49, "autumn_harvest", "dried",
            "walnuts from old trees with shells you can crack by hand", "a snack for brain and heart",
            weight=2.0, gi=True, organic=0.2),
    # Mizhi, Shaanxi
    Product("MZ", "Yellow Millet", "grains", 39, "new_grain", "grain",
            "small-grain millet grown on loess terraces", "cook into golden millet congee",
            weight=2.0, gi=True, organic=0.3),
    Product("MZ", "Loess Coarse Grain Mix", "grains", 49, "new_grain", "grain",
            "millet, buckwheat, sorghum and beans from loess farms", "wholesome mixed-grain rice",
            organic=0.2),
    # Danzhai, Guizhou
    Product("DZ", "Indigo Batik Tablecloth", "embroidery_textiles", 168, "flat", "textile",
            "cotton drawn in beeswax and dyed in home-grown indigo", "a table cover or wall hanging",
            weight=1.5, handmade=True),
    Product("DZ", "Batik Tote Bag", "embroidery_textiles", 88, "flat", "gift_craft",
            "indigo batik cotton with Miao bird patterns", "an everyday shoulder bag", handmade=True),
    # Jianchuan, Yunnan
    Product("JC", "Bai Wood Carved Panel", "woodwork", 388, "flat", "craft_piece",
            "openwork carving in camphor wood", "a screen, wall panel or window decoration",
            weight=1.5, handmade=True, gift=True),
    Product("JC", "Carved Wooden Tea Caddy", "woodwork", 128, "flat", "gift_craft",
            "a lidded camphor-wood box carved with clouds", "stores loose tea", handmade=True),
    # Yu County, Hebei
    Product("YU", "Paper-cut Window Flowers", "folk_art", 39, "new_year_decor", "papercut",
            "carved with knives through stacks of rice paper and hand-dyed",
            "stick on windows for the Spring Festival", weight=1.5, handmade=True, gift=True),
    Product("YU", "Framed Paper-cut Art", "folk_art", 168, "flat", "craft_piece",
            "a large dyed paper-cut mounted in a wooden frame", "a wall piece with folk motifs",
            handmade=True, gift=True),
    # Menghai, Yunnan
    Product("MH", "Pu'er Tea Cake", "tea", 158, "flat", "tea_cake",
            "sun-dried leaves from old tea trees, stone-pressed into cakes",
            "improves with age; brew gongfu style", weight=2.5, gift=True, gi=True),
    # Shiqian, Guizhou
    Product("SQ", "Shiqian Moss Tea", "tea", 68, "spring_tea", "tea",
            "curly green tea from mossy mountain gardens", "a fresh green tea with a long finish",
            weight=1.5, gi=True, organic=0.5),
    # Sanjiang, Guangxi
    Product("SJ", "Dong Embroidery Pouch", "embroidery_textiles", 78, "flat", "gift_craft",
            "hand-stitched Dong embroidery on handwoven cotton", "for coins, keys or tea",
            handmade=True, gift=True),
    Product("SJ", "Sanjiang Early Spring Tea", "tea", 58, "spring_tea", "tea",
            "the first green tea of the year in China, picked in February",
            "a tender, sweet green tea", weight=1.2, organic=0.3),
    # Jianshui, Yunnan
    Product("JS", "Jianshui Purple Pottery Teapot", "teaware", 228, "flat", "teapot",
            "purple clay carved with calligraphy and polished without glaze",
            "for pu'er and black teas", weight=1.2, handmade=True, gi=True),
    Product("JS", "Purple Pottery Steam Pot", "kitchenware", 168, "winter_warm", "wok",
            "a pot with a central spout that cooks by steam alone", "for Yunnan steam-pot chicken",
            handmade=True),
    # Zhuxi, Hubei
    Product("ZX", "Wild Mountain Honey", "honey", 88, "honey", "honey",
            "raw honey from Chinese honeybees, harvested once a year", "a spoonful in warm water",
            weight=2.0, gi=True, organic=0.4),
    # Fusong, Jilin
    Product("FS", "Changbai Linden Honey", "honey", 79, "honey", "honey",
            "crystallising white honey from linden forests", "spread on bread or stir into tea",
            weight=1.5, organic=0.3),
    Product("FS", "Dried Ginseng Slices", "dried_fruit_nuts", 168, "flat", "dried",
            "cultivated Changbai ginseng, sliced and dried", "steep in tea or add to chicken soup",
            gift=True),
    # Yanchi, Ningxia
    Product("YC", "Tan Sheep Lamb Cuts", "meat_dairy", 158, "winter_warm", "meat",
            "lamb from free-grazing Tan sheep, chilled and vacuum-packed",
            "for hot pot and hand-pulled lamb", weight=1.5, fresh=True, gi=True),
    # Wuyuan, Jiangxi
    Product("WN", "Wuyuan Green Tea", "tea", 88, "spring_tea", "tea",
            "hand-pan-fired green tea from Huizhou villages", "a clear, orchid-scented green tea",
            weight=1.5, gi=True, organic=0.4),
    Product("WN", "Cold-pressed Rapeseed Oil", "grains", 69, "flat", "grain",
            "oil pressed from local rapeseed in an old wooden press",
            "for stir-frying with a nutty aroma", weight=0.8),
)

CITIES: tuple[City, ...] = (
    City("Beijing", "Beijing", 1, 1.0),
    City("Shanghai", "Shanghai", 1, 1.1),
    City("Guangzhou", "Guangdong", 1, 0.85),
    City("Shenzhen", "Guangdong", 1, 0.85),
    City("Chengdu", "Sichuan", 2, 1.3),
    City("Hangzhou", "Zhejiang", 2, 1.2),
    City("Chongqing", "Chongqing", 2, 1.3),
    City("Wuhan", "Hubei", 2, 1.1),
    City("Nanjing", "Jiangsu", 2, 1.0),
    City("Xi'an", "Shaanxi", 2, 1.0),
    City("Suzhou", "Jiangsu", 2, 1.0),
    City("Tianjin", "Tianjin", 2, 1.0),
    City("Changsha", "Hunan", 2, 0.9),
    City("Zhengzhou", "Henan", 2, 0.9),
    City("Qingdao", "Shandong", 2, 0.8),
    City("Xiamen", "Fujian", 2, 0.6),
    City("Dongguan", "Guangdong", 2, 0.8),
    City("Foshan", "Guangdong", 2, 0.7),
    City("Ningbo", "Zhejiang", 2, 0.7),
    City("Hefei", "Anhui", 2, 0.7),
    City("Kunming", "Yunnan", 2, 0.7),
    City("Shenyang", "Liaoning", 2, 0.7),
    City("Jinan", "Shandong", 2, 0.6),
    City("Fuzhou", "Fujian", 2, 0.6),
    City("Harbin", "Heilongjiang", 2, 0.6),
    City("Dalian", "Liaoning", 2, 0.5),
    City("Luoyang", "Henan", 3, 1.0),
    City("Yichang", "Hubei", 3, 0.8),
    City("Ganzhou", "Jiangxi", 3, 0.9),
    City("Zhuzhou", "Hunan", 3, 0.7),
    City("Yangzhou", "Jiangsu", 3, 0.8),
    City("Shaoxing", "Zhejiang", 3, 0.9),
    City("Weifang", "Shandong", 3, 1.0),
    City("Mianyang", "Sichuan", 3, 0.8),
    City("Liuzhou", "Guangxi", 3, 0.7),
    City("Guilin", "Guangxi", 3, 0.7),
    City("Baoding", "Hebei", 3, 1.0),
    City("Xiangyang", "Hubei", 3, 0.8),
    City("Zhanjiang", "Guangdong", 3, 0.8),
    City("Jining", "Shandong", 3, 0.8),
    City("Yancheng", "Jiangsu", 3, 0.8),
    City("Huizhou", "Guangdong", 3, 0.8),
    City("Wuhu", "Anhui", 3, 0.6),
    City("Zunyi", "Guizhou", 3, 0.8),
    City("Qujing", "Yunnan", 3, 0.6),
    City("Datong", "Shanxi", 3, 0.6),
    City("Jiujiang", "Jiangxi", 3, 0.6),
    City("Changde", "Hunan", 3, 0.6),
    City("Nanchong", "Sichuan", 3, 0.7),
    City("Yueyang", "Hunan", 3, 0.6),
    City("Yantai", "Shandong", 3, 0.8),
    City("Baotou", "Inner Mongolia", 3, 0.5),
    City("Anshan", "Liaoning", 3, 0.5),
    City("Daqing", "Heilongjiang", 3, 0.5),
    City("Tianshui", "Gansu", 3, 0.5),
)

TIER_SHARES: dict[int, float] = {1: 0.35, 2: 0.40, 3: 0.25}

# Title prefixes some listings carry, by category kind.
TITLE_PREFIXES: dict[str, tuple[str, ...]] = {
    "produce": ("Farm-direct", "Origin-direct", "Smallholder", "New Season"),
    "handicraft": ("Handcrafted", "Artisan", "Traditional", "Heritage"),
}

# Words for merchant names: stems, then a suffix by category kind.
MERCHANT_STEMS: tuple[str, ...] = (
    "Green Valley", "Old Street", "Cloud Mountain", "Riverside", "Golden Field", "Hometown",
    "Morning Dew", "Stone Bridge", "Red Earth", "Bamboo Grove", "Clear Spring", "Harvest Moon",
    "Ancestral", "Pine Ridge", "Sunny Slope", "Terrace", "Misty Peak", "Village Hall",
)
MERCHANT_SUFFIXES: dict[str, tuple[str, ...]] = {
    "produce": ("Farmers' Cooperative", "Farmers' Cooperative", "Family Farm", "Agricultural Co., Ltd."),
    "handicraft": ("Workshop", "Workshop", "Artisans' Cooperative", "Crafts Co., Ltd."),
}
