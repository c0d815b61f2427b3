"""Alerts are incidents: one Telegram message when something starts failing, none while it keeps
failing, one when it recovers. What fails: an asset check (`checks`), a run (`runs`) and a MART
past its freshness window (`freshness`); `incidents` keeps the open ones in the sensor's cursor
and `sensor` sends the messages.
"""
