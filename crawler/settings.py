"""Scrapy settings for ShopLens crawls; the command line overrides the per-run ones."""

from shoplens import settings

BOT_NAME = "shoplens"
SPIDER_MODULES = ["crawler.spiders"]
USER_AGENT = "ShopLensBot/0.1 (+https://github.com/shoplens/shoplens; picture dataset crawler)"

# Politeness: robots.txt, adaptive throttling, few parallel requests per site.
ROBOTSTXT_OBEY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_TIMEOUT = 20
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
DOWNLOAD_MAXSIZE = 20 * 1024 * 1024

RETRY_BACKOFF_BASE = 1.0  # seconds before the first retry; doubles for each further one

DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "crawler.middlewares.PagesOffsiteMiddleware": 50,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.middlewares.SettledRobotsTxtMiddleware": 100,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    "crawler.middlewares.SeleniumMiddleware": 800,
}
ITEM_PIPELINES = {"crawler.pipelines.PicturePipeline": 100, "crawler.pipelines.ManifestPipeline": 900}
MEDIA_ALLOW_REDIRECTS = True
IMAGES_STORE = "data/crawl"

# ShopLens's own settings: declared (default and meaning) in shoplens/settings.py
SHOPLENS_MIN_SIDE = settings.MIN_SIDE.default
SHOPLENS_MAX_DISTANCE = settings.MAX_DISTANCE.default
SHOPLENS_PER_TERM = settings.PER_TERM.default
SHOPLENS_PROGRESS_SECONDS = settings.PROGRESS_SECONDS.default
SHOPLENS_REDIS_IDLE_SECONDS = settings.REDIS_IDLE_SECONDS.default

EXTENSIONS = {"crawler.extensions.Progress": 500}

LOG_FORMATTER = "crawler.pipelines.DropsAtDebug"
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
