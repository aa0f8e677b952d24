"""OCR-like documents for the search benchmarks: real OCR output from shared/data plus generated
text in ten templates (receipts, VAT invoices, signs, chats, addresses, business licences, ID cards,
train tickets, menus, phone purchases) with the noise OCR produces: spaces between Chinese
characters, line breaks inside words, full-width digits. Deterministic for a seed."""

from __future__ import annotations

import json
import random
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

CITIES = [
    "北京",
    "上海",
    "广州",
    "深圳",
    "杭州",
    "南京",
    "成都",
    "武汉",
    "西安",
    "苏州",
    "重庆",
    "天津",
    "长沙",
    "厦门",
    "青岛",
]
DISTRICTS = ["朝阳区", "海淀区", "浦东新区", "徐汇区", "天河区", "南山区", "西湖区", "鼓楼区", "武侯区", "江汉区"]
ROADS = ["中山路", "人民路", "解放路", "建国路", "文三路", "碧波路", "长安街", "淮海路", "南京路", "科苑路"]
SHOPS = [
    "星巴克",
    "瑞幸咖啡",
    "喜茶",
    "肯德基",
    "麦当劳",
    "海底捞",
    "全家便利店",
    "罗森",
    "沃尔玛",
    "盒马鲜生",
    "西贝莜面村",
    "太二酸菜鱼",
    "蜜雪冰城",
    "奈雪的茶",
    "必胜客",
    "永和大王",
    "味千拉面",
    "外婆家",
]
BRANDS_LATIN = ["Starbucks", "Luckin", "KFC", "Manner", "Apple", "Huawei", "Xiaomi", "IKEA", "Uniqlo", "Costa"]
ITEMS = [
    "拿铁",
    "美式咖啡",
    "卡布奇诺",
    "宫保鸡丁",
    "鱼香肉丝",
    "麻婆豆腐",
    "酸菜鱼",
    "牛肉面",
    "小笼包",
    "珍珠奶茶",
    "芒果冰沙",
    "炸鸡套餐",
    "汉堡",
    "薯条",
    "米饭",
    "红烧肉",
    "糖醋排骨",
    "水煮鱼",
    "凉拌黄瓜",
    "蛋炒饭",
]
COMPANIES = ["星辰科技", "云帆信息技术", "华夏贸易", "东方文化传媒", "恒通物流", "蓝海网络", "金诚建筑", "绿源食品"]
NAMES = ["张三", "李四", "王五", "赵六", "陈明", "刘洋", "杨帆", "黄磊", "周杰", "吴敏"]
SIGNS = [
    "地下停车场入口",
    "禁止吸烟",
    "安全出口",
    "请勿停车",
    "营业时间",
    "欢迎光临",
    "小心地滑",
    "扫码点餐",
    "会员专享",
    "限时优惠",
    "免费WiFi",
    "充电桩",
    "无障碍通道",
    "母婴室",
]
PHONES = ["iPhone 15 Pro", "iPhone 14", "Mate 60 Pro", "Xiaomi 14", "Galaxy S24", "iPad Air", "MacBook Pro"]


def _date(rng: random.Random) -> tuple[int, int, int]:
    return rng.randint(2019, 2025), rng.randint(1, 12), rng.randint(1, 28)


def _lines(rng: random.Random) -> list[str]:
    kind = rng.randrange(10)
    y, m, d = _date(rng)
    city, shop = rng.choice(CITIES), rng.choice(SHOPS)
    if kind == 0:
        items = rng.sample(ITEMS, 3)
        total = 0
        lines = [f"{shop}({city}{rng.choice(DISTRICTS)}店)"]
        for item in items:
            price = rng.randint(8, 68)
            total += price
            lines.append(f"{item} 1 ¥{price}.00")
        return lines + [
            f"合计 ¥{total}.00",
            rng.choice(["微信支付", "支付宝", "银联刷卡", "现金"]),
            f"{y}-{m:02d}-{d:02d} {rng.randint(8, 22):02d}:{rng.randint(0, 59):02d}",
            "扫描二维码开具电子发票",
        ]
    if kind == 1:
        return [
            "增值税电子普通发票",
            f"发票代码:{rng.randint(10**11, 10**12 - 1)} 发票号码:{rng.randint(10**7, 10**8 - 1)}",
            f"开票日期:{y}年{m:02d}月{d:02d}日",
            f"购买方名称:{city}{rng.choice(COMPANIES)}有限公司",
            f"价税合计 (小写)¥{rng.randint(10, 9999)}.00",
        ]
    if kind == 2:
        return rng.sample(SIGNS, 2) + [f"{rng.choice(BRANDS_LATIN)} {city}{rng.choice(ROADS)}店"]
    if kind == 3:
        a, b = rng.sample(NAMES, 2)
        return [
            f"{a} {rng.randint(8, 22)}:{rng.randint(10, 59)}",
            f"明天{rng.choice(['上午', '下午', '晚上'])}在{city}{rng.choice(ROADS)}见",
            f"{b} {rng.randint(8, 22)}:{rng.randint(10, 59)}",
            rng.choice(["好的，我把二维码发你", "收到", "我到停车场了"]),
        ]
    if kind == 4:
        return [
            f"收货地址:{city}市{rng.choice(DISTRICTS)}{rng.choice(ROADS)}{rng.randint(1, 999)}号",
            f"联系电话:1{rng.randint(30, 99)}****{rng.randint(1000, 9999)}",
            f"收件人:{rng.choice(NAMES)}",
        ]
    if kind == 5:
        return [
            "营业执照",
            f"统一社会信用代码 9111{rng.randint(10**9, 10**10 - 1)}MA{rng.randint(10, 99)}X",
            f"名称 {city}{rng.choice(COMPANIES)}有限公司",
            f"法定代表人 {rng.choice(NAMES)}",
            f"成立日期 {y}年{m:02d}月{d:02d}日",
        ]
    if kind == 6:
        return [
            f"姓名 {rng.choice(NAMES)}",
            f"出生 {y - 30}年{m}月{d}日",
            f"住址 {city}市{rng.choice(DISTRICTS)}科技园",
            f"公民身份号码 {rng.randint(110000, 659999)}{y - 30}{m:02d}{d:02d}{rng.randint(1000, 9999)}",
        ]
    if kind == 7:
        a, b = rng.sample(CITIES, 2)
        return [
            f"G{rng.randint(100, 9999)}次 {a}站→{b}站",
            f"{y}年{m:02d}月{d:02d}日 {rng.randint(6, 21):02d}:00开",
            f"{rng.randint(1, 16):02d}车{rng.randint(1, 20)}F号 二等座",
            f"¥{rng.randint(50, 900)}.0元",
            "身份证号 1101**********1234",
        ]
    if kind == 8:
        return (
            [f"{shop}菜单"]
            + [f"{item} {rng.randint(8, 88)}元" for item in rng.sample(ITEMS, 4)]
            + ["扫码点餐 请勿吸烟"]
        )
    return [f"{rng.choice(PHONES)} 发票", f"{y}年{m}月 {rng.choice(BRANDS_LATIN)} Store", f"{city}{rng.choice(ROADS)}"]


FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def add_noise(lines: list[str], rng: random.Random) -> tuple[list[str], str]:
    """One of: clean (87%), spaced CJK (5%), a line broken inside a word (5%), full-width digits (3%)."""
    roll = rng.random()
    if roll < 0.05:
        i = rng.randrange(len(lines))
        lines[i] = " ".join(lines[i])
        return lines, "spaced"
    if roll < 0.10:
        candidates = [
            (i, k)
            for i, line in enumerate(lines)
            for k in range(1, len(line))
            if _is_cjk(line[k - 1]) and _is_cjk(line[k])
        ]
        if candidates:
            i, k = rng.choice(candidates)
            lines[i : i + 1] = [lines[i][:k], lines[i][k:]]
            return lines, "line-broken"
        return lines, "clean"
    if roll < 0.13:
        return [line.translate(FULLWIDTH) for line in lines], "full-width"
    return lines, "clean"


def generated(n: int, seed: int = 42) -> list[tuple[list[str], str]]:
    rng = random.Random(seed)
    return [add_noise(_lines(rng), rng) for _ in range(n)]


def real_ocr() -> list[list[str]]:
    """Line lists of the real OCR output in shared/data/ocr_ground_truth.json (upstream tests and READMEs)."""
    path = SHARED / "ocr_ground_truth.json"
    if not path.is_file():
        return []
    items = json.loads(path.read_text())["items"]
    docs = [item["lines"] for item in items if item.get("lines")]
    docs += [[item["first_line"]] for item in items if item.get("first_line") and not item.get("lines")]
    return docs
