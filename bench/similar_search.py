"""Benchmark R9.1.4 similar-proposal search on PostgreSQL (not a timed test; see bench/README.md).

Creates a scratch database, fills it with generated Traditional Chinese proposals, plants reworded
near-duplicates of proposals that are *not* in the database, and asks `models.similar.find_similar`
for each original: the planted copy must be in the top five.  Also times random queries.  Prints the
figures; writes nothing else; drops the scratch database at the end unless --keep.

    .venv/bin/python bench/similar_search.py            # 100,000 rows, 500 planted, 1,000 random
    .venv/bin/python bench/similar_search.py --rows 20000 --keep
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# --- vocabulary ------------------------------------------------------------------------------

LEADS = ["建議", "建請", "提議", "希望", "請", "擬請", "", "", "", ""]
SCOPES_Q = ["本府各機關", "各區公所", "所屬學校", "一級機關", "二級機關", "第一線服務單位", "各局處", "市府",
            "各戶政事務所", "各地政事務所", "衛生所", "消防分隊", "警察分局", "清潔隊", "圖書館分館", "社福中心",
            "", "", "", ""]
ACTIONS = ["全面檢討", "簡化", "優化", "推動", "試辦", "建置", "改善", "研議放寬", "統一", "擴大", "導入", "修正",
           "檢討調整", "規劃", "整合", "強化", "重新設計", "鬆綁", "落實", "增設"]
DOMAINS = {
    "公文": ["公文線上簽核", "電子公文交換", "公文用印流程", "紙本公文歸檔", "公文時效管控", "會辦單位數量",
            "公文範本", "簽稿會核流程", "機密公文傳遞", "公文附件大小限制", "決行層級", "公文檢核表"],
    "差勤": ["彈性上班制度", "線上請假系統", "加班費核發方式", "補休期限", "差旅費報支程序", "居家辦公",
            "輪班人員休息時間", "出差交通補助", "刷卡打卡方式", "值班費標準", "國內出差住宿費", "休假旅遊補助",
            "哺乳時間", "家庭照顧假"],
    "採購": ["小額採購程序", "共同供應契約", "採購驗收流程", "廠商履約管理", "標案資訊公開", "電子領標",
            "採購估價單格式", "勞務採購評選", "辦公用品請購", "驗收人員訓練", "逾期罰款計算", "押標金退還"],
    "交通": ["公車路線", "市區停車位", "自行車道", "機車停車格", "捷運接駁公車", "交通號誌時制", "通學步道",
            "公務車調度", "員工停車場", "電動機車充電站", "無障礙人行道", "路口行人庇護島", "iBike租賃站"],
    "教育": ["公務人員進修補助", "數位學習課程", "新進人員訓練", "學校午餐", "課後照顧", "終身學習時數",
            "英語能力檢定補助", "主管領導訓練", "跨機關交流研習", "碩士在職進修", "e等公務園課程"],
    "環保": ["辦公室節能減碳", "資源回收分類", "一次性餐具減量", "太陽能板設置", "公有建築綠化", "空氣品質監測",
            "會議免用瓶裝水", "雙面列印", "辦公室冷氣溫度", "雨水回收系統", "綠色採購比例", "廚餘回收"],
    "資訊": ["內部網路系統整合", "單一登入", "資安教育訓練", "電腦設備汰換", "雲端儲存空間", "視訊會議系統",
            "電子郵件容量", "行動辦公App", "公務LINE群組管理", "系統帳號申請流程", "AI公文摘要", "開放資料平臺"],
    "人事": ["職務輪調", "考績評核", "員工協助方案", "育嬰留職停薪", "托育服務", "健康檢查", "職務代理制度",
            "陞遷評分標準", "約聘僱人員待遇", "退休人員經驗傳承", "員工餐廳", "心理諮商資源"],
    "服務": ["市民陳情處理", "櫃檯服務時間", "1999專線", "線上申辦", "多語服務", "身心障礙者服務", "預約叫號",
            "行動支付繳費", "跨區收件", "規費減免", "夜間服務窗口", "書表簡化"],
    "安全": ["辦公室消防設備", "防災演練", "辦公廳舍耐震補強", "夜間值勤安全", "第一線人員防護", "AED設置",
            "緊急聯絡系統", "颱風停班通報", "門禁管理", "職場霸凌申訴"],
}
PURPOSES = ["以提升行政效率", "以減少紙張使用", "以保障同仁權益", "以提升服務品質", "以減輕同仁負擔", "以節省公帑",
            "以利業務推動", "以落實節能減碳", "以提升市民滿意度", "以增進工作士氣", "以縮短作業時間", "以強化資訊安全",
            "", "", "", "", "", ""]
ISSUES = ["程序繁瑣", "標準不一", "缺乏彈性", "資訊不透明", "耗費人力", "時程過長", "經費不足", "使用率偏低",
          "規定過時", "負擔過重", "重複填報", "缺乏整合"]
DISTRICTS = ["中區", "東區", "南區", "西區", "北區", "西屯區", "南屯區", "北屯區", "豐原區", "東勢區", "大甲區", "清水區",
             "沙鹿區", "梧棲區", "后里區", "神岡區", "潭子區", "大雅區", "新社區", "石岡區", "外埔區", "大安區",
             "烏日區", "大肚區", "龍井區", "霧峰區", "太平區", "大里區", "和平區"]
PLACES = ["市政大樓", "區公所", "戶政事務所", "國民運動中心", "圖書館", "火車站", "公園", "市場", "國小", "國中",
          "長照據點", "行政中心", "轉運站", "體育館", "文化中心", "社區活動中心"]
FACILITIES = ["哺集乳室", "無障礙坡道", "機車停車格", "電動車充電樁", "飲水機", "遮雨棚", "共享辦公空間", "親子廁所",
              "自行車停車架", "智慧照明", "監視器", "休憩座椅", "公務車停車位", "資源回收站", "AED", "閱覽座位"]
MODIFIERS = ["線上", "跨機關", "夜間", "假日", "臨時", "專案", "約聘僱", "新進", "基層", "主管", "偏鄉", "高齡", "身障",
             "外籍", "多元", "智慧", "行動化", "集中", "分區", "彈性", "定期", "年度", "季度", "緊急", "共用", "遠距",
             "無紙化", "一站式", "分級", "標準化"]
TARGETS = ["育兒同仁", "輪班同仁", "身心障礙同仁", "新進人員", "約聘僱人員", "外勤人員", "技工工友", "駐衛警", "公務車駕駛",
           "志工", "實習生", "替代役男", "退休人員", "懷孕同仁", "高齡同仁", "第一線櫃檯人員", "資訊人員", "會計人員",
           "人事人員", "政風人員", "里幹事", "清潔隊員", "社工員", "護理人員", "教保員", "約僱技術員"]
ROADS = ["臺灣大道", "文心路", "中港路", "五權路", "大雅路", "中清路", "崇德路", "環中路", "向上路", "黎明路", "市政路",
         "河南路", "英才路", "三民路", "建國路", "復興路", "中山路", "民權路", "自由路", "公益路", "美村路", "忠明路",
         "大墩路", "精誠路", "五權西路", "文昌路", "北屯路", "東山路", "太原路", "進化路", "旱溪東路", "南屯路",
         "永春路", "福科路", "西屯路", "青海路", "漢口路", "昌平路", "豐原大道", "沙田路"]
TIME_UNITS = ["天", "小時", "個月", "週", "分鐘", "個工作天"]
IMPACTS = ["造成同仁額外負擔", "影響民眾洽公權益", "增加行政成本", "降低工作效率", "導致資源浪費", "引發同仁反彈",
           "使新進人員難以適應", "造成業務延宕", "影響機關形象", "增加出錯機會"]
METHODS = ["可參考其他縣市作法", "先選定單位試辦三個月", "由研考會邀集相關局處討論", "訂定統一作業規範",
           "導入數位化工具", "編列專款支應", "修正相關作業要點", "建立定期檢討機制", "納入年度施政計畫",
           "成立跨局處工作小組", "辦理說明會蒐集同仁意見", "委託專業團隊評估"]
BENEFITS = ["提升行政效率", "減少紙張與碳排放", "保障同仁權益", "提升市民滿意度", "節省經費支出", "降低錯誤率",
            "縮短處理時間", "促進跨機關合作", "提升同仁工作士氣", "強化資訊安全"]
STATS = ["相關案件", "申請件數", "陳情案件", "加班時數", "紙張用量", "使用人次", "報修次數", "公文數量"]
UNITS = ["件", "人次", "小時", "張", "次"]

# The benchmark's own rewording table (independent of models.similar's folding tables; some overlap).
SYNONYMS = [
    ("推動", "推行"), ("推動", "落實"), ("建議", "建請"), ("建議", "提議"), ("公務人員", "公務員"), ("同仁", "員工"),
    ("簡化", "精簡"), ("增設", "增加"), ("增設", "新設"), ("改善", "改進"), ("提升", "提高"), ("系統", "平臺"),
    ("流程", "程序"), ("補助", "補貼"), ("停車位", "停車空間"), ("自行車", "腳踏車"), ("上班", "上下班"),
    ("線上", "網路"), ("數位", "電子"), ("檢討", "檢視"), ("規劃", "規畫"), ("建置", "設置"), ("民眾", "市民"),
    ("學校", "校園"), ("制度", "機制"), ("全面", "通盤"), ("整合", "統整"), ("強化", "加強"), ("試辦", "先行試辦"),
    ("標準", "基準"), ("方式", "作法"), ("時間", "時段"), ("訓練", "培訓"), ("課程", "課堂"), ("設置", "設立"),
    ("統一", "一致化"), ("擴大", "放大"), ("優化", "改良"), ("導入", "引進"), ("修正", "修訂"), ("鬆綁", "放寬"),
    ("各機關", "所屬機關"), ("市府", "市政府"), ("本府", "市府"), ("減少", "降低"), ("保障", "維護"),
]
PARTICLES = ["的", "之", "及", "並", "關於", "有關", "請", "。", "！", "，"]


DENSE = False  # --dense: no modifiers, 3 roads, 3 target groups: every title bigram is shared by hundreds

# Subjects (DOMAINS entries or FACILITIES) that no generated proposal is built on.  similar_meaning.py
# fills it from bench/data/similar_background_topics.tsv, so that the background is not about any
# pair's topic.  Empty, the generator draws exactly what it drew before (same random sequence).
EXCLUDED: set[str] = set()


def _allowed(items: list[str]) -> list[str]:
    return [item for item in items if item not in EXCLUDED] if EXCLUDED else items


def make_object(rng: random.Random, domain: str) -> str:
    base = rng.choice(_allowed(DOMAINS[domain]))
    return rng.choice(MODIFIERS) + base if rng.random() < 0.6 and not DENSE else base


def make_proposal(rng: random.Random) -> tuple[str, str, str]:
    """(title, content, benefits) of one generated proposal."""
    domain = rng.choice([d for d in DOMAINS if _allowed(DOMAINS[d])])
    obj = make_object(rng, domain)
    action = rng.choice(ACTIONS)
    scope = rng.choice(SCOPES_Q)
    lead = rng.choice(LEADS)
    family = rng.random()
    district, place, facility = rng.choice(DISTRICTS), rng.choice(PLACES), rng.choice(_allowed(FACILITIES))
    if family < 0.28:
        title = f"{lead}{scope}{action}{obj}{rng.choice(PURPOSES)}"
    elif family < 0.42:
        title = f"{obj}{rng.choice(ISSUES)}，{lead or '建議'}{action}"
    elif family < 0.60:
        verb = rng.choice(["增設", "設置", "改善", "更新", "汰換"])
        title = f"{lead}於{district}{rng.choice(ROADS[:3] if DENSE else ROADS)}{place}{verb}{facility}"
        obj = facility
    elif family < 0.74:
        title = f"{lead}針對{rng.choice(TARGETS[:3] if DENSE else TARGETS)}{action}{obj}"
    elif family < 0.84:
        title = f"{lead}{action}{district}{obj}{rng.choice(PURPOSES)}"
    elif family < 0.92:
        title = f"{rng.randint(110, 116)}年度{scope}{obj}{action}方案"
    else:
        a, b = sorted(rng.sample(range(1, 61), 2))
        change = f"由{a}延長為{b}" if rng.random() < 0.5 else f"由{b}縮短為{a}"
        title = f"{lead}{obj}{change}{rng.choice(TIME_UNITS)}"
    title = title[:80]
    n = rng.randint(3, 5000)
    sentences = [
        f"目前{scope or '本府'}{obj}{rng.choice(ISSUES)}，{rng.choice(IMPACTS)}。",
        f"據統計，{rng.randint(110, 114)}年{rng.choice(STATS)}約{n}{rng.choice(UNITS)}，"
        f"較前一年{rng.choice(['增加', '減少'])}{rng.randint(2, 60)}%。",
        f"建議{action}{obj}，{rng.choice(METHODS)}。",
        f"另{rng.choice(METHODS)}，並於{rng.choice(DISTRICTS)}{rng.choice(PLACES)}先行辦理。",
    ]
    if rng.random() < 0.5:
        sentences.pop(rng.choice([1, 3]))
    content = "".join(sentences)
    benefits = f"預期可{rng.choice(BENEFITS)}，並{rng.choice(BENEFITS)}。"
    return title, content, benefits


def reword(text: str, rng: random.Random, ops: int) -> str:
    """Synonym swaps, 台/臺, particles added or removed, clauses reordered — until `ops` edits applied."""
    original = text
    for _ in range(ops * 4):
        if ops <= 0:
            break
        kind = rng.random()
        if kind < 0.45:
            pairs = [(a, b) for a, b in SYNONYMS if a in text] + [(b, a) for a, b in SYNONYMS if b in text]
            if pairs:
                a, b = rng.choice(pairs)
                text = text.replace(a, b, 1)
                ops -= 1
        elif kind < 0.6:
            if "臺" in text or "台" in text:
                text = text.replace("臺", "台") if "臺" in text else text.replace("台", "臺")
                ops -= 1
            elif rng.random() < 0.5:
                text = "臺中市" + text
                ops -= 1
        elif kind < 0.8:
            present = [p for p in PARTICLES if p in text]
            if present and rng.random() < 0.5:
                text = text.replace(rng.choice(present), "", 1)
            else:
                pos = rng.randint(0, len(text))
                text = text[:pos] + rng.choice(PARTICLES) + text[pos:]
            ops -= 1
        else:
            if "，" in text.strip("，"):
                head, tail = text.strip("，").split("，", 1)
                text = f"{tail}，{head}"
                ops -= 1
            elif "以" in text[1:]:
                head, tail = text.rsplit("以", 1)
                text = f"為{tail}，{head}"
                ops -= 1
    return text if text != original else "關於" + text


def reword_content(content: str, rng: random.Random) -> str:
    parts = [s + "。" for s in content.split("。") if s]
    if len(parts) > 2 and rng.random() < 0.5:
        parts.pop(rng.randrange(len(parts)))
    if rng.random() < 0.5:
        rng.shuffle(parts)
    return "".join(reword(p, rng, 1) for p in parts)


# --- database --------------------------------------------------------------------------------

def create_database(admin_url: str, name: str) -> str:
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    cur = admin.cursor()
    cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


def drop_database(admin_url: str, name: str) -> None:
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    cur = admin.cursor()
    cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,))
    cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def load(rows: int, planted: list[tuple[str, str, str]], rng: random.Random) -> list[int]:
    """Insert `rows` proposals (the planted ones among them, shuffled); returns the planted ids in order."""
    from models import db
    from models.officials import Official
    from models.proposals import Proposal

    now = dt.datetime(2025, 1, 1)
    officials = [dict(line_user_id=f"U{i:032x}", status="verified", verified_email=f"bench{i}@taichung.gov.tw",
                      nickname=f"同仁{i}", created_at=now, verified_at=now) for i in range(2000)]
    with db.atomic():
        for i in range(0, len(officials), 1000):
            Official.insert_many(officials[i:i + 1000]).execute()
    official_ids = [o.id for o in Official.select(Official.id)]
    similar_states = ["submitted", "returned", "seconding", "established", "lapsed", "responded"]
    other_states = ["draft", "withdrawn", "removed"]
    slots = list(range(rows))
    planted_slots = set(rng.sample(slots, len(planted)))
    planted_iter = iter(planted)
    batch: list[dict] = []
    planted_index = 0
    ids: list[int] = [0] * len(planted)
    pending: list[int] = []

    def flush():
        with db.atomic():
            inserted = list(Proposal.insert_many(batch).returning(Proposal.id).execute())
        for row, marker in zip(inserted, pending, strict=True):
            if marker >= 0:
                ids[marker] = row[0] if isinstance(row, tuple) else row.id
        batch.clear()
        pending.clear()

    for slot in slots:
        if slot in planted_slots:
            title, content, benefits = next(planted_iter)
            state = rng.choice(similar_states)
            pending.append(planted_index)
            planted_index += 1
        else:
            title, content, benefits = make_proposal(rng)
            state = rng.choice(other_states) if rng.random() < 0.08 else rng.choice(similar_states)
            pending.append(-1)
        created = now - dt.timedelta(minutes=slot)
        batch.append(dict(proposer=rng.choice(official_ids), state=state, scope="internal", title=title,
                          content=content, benefits=benefits, agency_code=None, agency_by_ops=True,
                          created_at=created, updated_at=created, submitted_at=created))
        if len(batch) >= 2000:
            flush()
    if batch:
        flush()
    return ids


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--planted", type=int, default=500)
    parser.add_argument("--random-queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--admin-url", default=os.environ.get("TEST_ADMIN_DATABASE_URL",
                                                              "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--db-name", default="bench_similar")
    parser.add_argument("--dense", action="store_true",
                        help="small vocabulary (stress case): every title bigram is shared by hundreds of rows")
    parser.add_argument("--keep", action="store_true", help="keep the database (and reuse it with --reuse)")
    parser.add_argument("--reuse", action="store_true", help="skip generation; use a database left by --keep")
    args = parser.parse_args()
    global DENSE
    DENSE = args.dense

    rng = random.Random(args.seed)
    from models import db, similar
    from models.base import connect_database
    from webapp.schema import create_schema as create_tables

    originals = [make_proposal(rng) for _ in range(args.planted)]
    copies = [(reword(t, rng, rng.randint(2, 4)), reword_content(c, rng), b) for t, c, b in originals]
    randoms = [make_proposal(rng) for _ in range(args.random_queries)]

    url = f"{args.admin_url.rsplit('/', 1)[0]}/{args.db_name}"
    if not args.reuse:
        url = create_database(args.admin_url, args.db_name)
    try:
        connect_database(url)
        if not args.reuse:
            t0 = time.perf_counter()
            create_tables()
            planted_ids = load(args.rows, copies, rng)
            t1 = time.perf_counter()
            similar.ensure_search_index()
            similar.refresh()
            db.execute_sql("VACUUM ANALYZE")
            t2 = time.perf_counter()
            print(f"loaded {args.rows} proposals in {t1 - t0:.1f} s; index + analyze {t2 - t1:.1f} s")
            if args.keep:
                db.execute_sql("CREATE TABLE IF NOT EXISTS bench_planted (n int primary key, proposal_id int)")
                db.execute_sql("DELETE FROM bench_planted")
                for n, pid in enumerate(planted_ids):
                    db.execute_sql("INSERT INTO bench_planted VALUES (%s, %s)", (n, pid))
        else:
            similar.ensure_search_index()
            planted_ids = [r[0] for r in db.execute_sql("SELECT proposal_id FROM bench_planted ORDER BY n")]
        path = "GIN over the stored features, rarest features" if similar.search_ready() else "portable scan"
        size = db.execute_sql("SELECT pg_size_pretty(pg_relation_size(%s))", (similar.index.INDEX_NAME,)).fetchone()[0]
        version = db.execute_sql("SHOW server_version").fetchone()[0]
        print(f"path: {path}; index {similar.index.INDEX_NAME} {size}; PostgreSQL {version}; "
              f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; vocabulary {'dense' if DENSE else 'normal'}")
        for (title, _, _), (copy, _, _) in list(zip(originals, copies, strict=True))[:3]:
            print(f"  planted example: {title}  →  {copy}")
        own = sorted(similar.lex.similarity(similar.lex.proposal_features(t, c), similar.lex.proposal_features(ct, cc),
                                            lambda f: 1.0)
                     for (t, c, _), (ct, cc, _) in zip(originals, copies, strict=True))
        print(f"score of each planted copy against its original: p1={pct(own, 1):.2f} p5={pct(own, 5):.2f} "
              f"p50={pct(own, 50):.2f} (MIN_SCORE {similar.MIN_SCORE})")

        for title, content, _ in randoms[:50]:  # warm-up
            similar.find_similar(title, content)

        def run(queries, expected=None, with_content=True):
            times, hits, shown, ranks = [], 0, 0, []
            for i, (title, content, _) in enumerate(queries):
                t = time.perf_counter()
                found = similar.find_similar(title, content if with_content else "")
                times.append((time.perf_counter() - t) * 1000)
                shown += len(found)
                if expected is not None:
                    got = [p.id for p, _ in found]
                    if expected[i] in got:
                        hits += 1
                        ranks.append(got.index(expected[i]) + 1)
            return times, hits, shown, ranks

        def report(label, times, hits=None, n=None, shown=0, ranks=None):
            line = (f"{label:<34} n={len(times):5d}  p50={pct(times, 50):6.2f} ms  p95={pct(times, 95):6.2f} ms  "
                    f"p99={pct(times, 99):6.2f} ms  max={max(times):6.2f} ms  avg shown={shown / len(times):.2f}")
            if hits is not None:
                line += f"  recall@5={100 * hits / n:5.1f}%"
                if ranks:
                    line += f" (rank 1: {100 * ranks.count(1) / n:.1f}%)"
            print(line)

        times_p, hits_p, shown_p, ranks_p = run(originals, planted_ids)
        report("planted, title + content", times_p, hits_p, len(originals), shown_p, ranks_p)
        times_t, hits_t, shown_t, ranks_t = run(originals, planted_ids, with_content=False)
        report("planted, title only", times_t, hits_t, len(originals), shown_t, ranks_t)
        times_r, _, shown_r, _ = run(randoms)
        report("random, title + content", times_r, shown=shown_r)
        all_times = times_p + times_r
        print(f"{'ALL (planted + random, with content)':<34} n={len(all_times):5d}  p50={pct(all_times, 50):6.2f} ms  "
              f"p95={pct(all_times, 95):6.2f} ms  p99={pct(all_times, 99):6.2f} ms")
        print(f"TARGETS: p95 < 20 ms: {'met' if pct(all_times, 95) < 20 else 'MISSED'}; "
              f"recall@5 >= 90 %: {'met' if hits_p / len(originals) >= 0.9 else 'MISSED'}")
    finally:
        if db.obj is not None and not db.obj.is_closed():
            db.obj.close_all() if hasattr(db.obj, "close_all") else db.obj.close()
        if not args.keep:
            drop_database(args.admin_url, args.db_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
