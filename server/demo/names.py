"""Chinese names and addresses for the demo station, drawn from small lists."""

from __future__ import annotations

from random import Random

TOWN = "青山镇"

VILLAGES = (
    "东岭村", "西坞村", "南塘村", "北山村", "石桥村", "竹林村", "上溪村", "下洋村",
    "梅岭村", "桃源村", "柳湾村", "荷花村",
)

SURNAMES = (
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "沈", "叶", "程", "蒋", "余", "潘", "方", "钱",
)

GIVEN = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "桂英", "建国", "建华", "国强", "志强", "海燕", "小红", "春花", "金生", "水根",
    "根宝", "德明", "文华", "玉兰", "秀兰", "长林", "永福", "福生", "美玲", "雪梅", "荣", "平",
)

SHOPS = ("便利店", "小超市", "农家乐", "五金店", "饭店", "理发店", "茶叶店", "药店", "快递站", "粮油店")
HOTELS = ("大酒店", "山庄", "度假村", "商贸中心")
WORKSHOPS = ("竹制品厂", "茶叶加工厂", "木材加工厂", "石材厂", "食品厂", "纺织厂")
COMPANIES = ("建材有限公司", "机械制造有限公司", "竹业有限公司", "冷链物流有限公司")
FARMS = ("家庭农场", "茶园", "养殖场", "苗木基地")
SITES = ("民房建设", "道路改造工程", "桥梁施工", "水利工程", "厂房扩建")



def person(rng: Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def village_of(index: int) -> str:
    """The village of the index-th district; lists repeat with a number beyond their length."""
    return VILLAGES[index % len(VILLAGES)]


def district_name(index: int) -> str:
    return f"{village_of(index)}{index // len(VILLAGES) + 1}号台区"


def address(rng: Random, village: str) -> str:
    return f"{TOWN}{village}{rng.randint(1, 9)}组{rng.randint(1, 120)}号"


def customer_name(rng: Random, category: str, customer_class: str | None, village: str) -> str:
    """A household's head, a shop, a workshop, a farm or a building site, by category and size."""
    place = village.removesuffix("村")
    if category == "residential":
        return person(rng)
    if category == "commercial":
        if customer_class == "A":
            return f"{TOWN.removesuffix('镇')}{rng.choice(HOTELS)}"
        return f"{place}{rng.choice(SURNAMES)}记{rng.choice(SHOPS)}"
    if category == "industrial":
        if customer_class == "A":
            return f"{TOWN.removesuffix('镇')}{place}{rng.choice(COMPANIES)}"
        return f"{place}{rng.choice(WORKSHOPS)}"
    if category == "agricultural":
        if rng.random() < 0.5:
            return f"{place}{rng.randint(1, 9)}组灌溉泵站"
        return f"{person(rng)}{rng.choice(FARMS)}"
    return f"{place}{rng.choice(SITES)}临时用电"
