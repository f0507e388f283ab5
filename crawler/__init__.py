"""ShopLens crawler: Scrapy spiders that gather labelled pictures (see the crawler issue)."""
