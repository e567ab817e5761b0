# 予定された会議の招待（core/src/invite）。ID は ../en/invite.ftl と同じものをすべて定義すること
# （core のテストで確認しています）。用語は GUIDANCE.md に合わせる。

## 日付: 「2026年12月1日(火) 10:00 (Asia/Tokyo)」

weekday = { $day ->
    [mon] 月
    [tue] 火
    [wed] 水
    [thu] 木
    [fri] 金
    [sat] 土
   *[sun] 日
}
month-name = { $month ->
    [m1] 1月
    [m2] 2月
    [m3] 3月
    [m4] 4月
    [m5] 5月
    [m6] 6月
    [m7] 7月
    [m8] 8月
    [m9] 9月
    [m10] 10月
    [m11] 11月
   *[m12] 12月
}
date = { $year }年{ $month }月{ $day }日
date-time-zone = { $year }年{ $month }月{ $day }日({ $weekday }) { $time } ({ $zone })
list-separator = ・

## 招待（テキスト、HTML、.ics の DESCRIPTION）

label-when = 日時
label-duration = 所要時間
duration = { $minutes }分
label-repeats = 繰り返し
recurrence-weekly = 毎週 { $days }曜日
recurrence-weekly-until = 毎週 { $days }曜日（{ $date }まで）
recurrence-weekly-count = 毎週 { $days }曜日（全{ $count }回）
label-host = 主催者
label-number = 会議番号
label-password = パスワード
label-join = Conclave アプリで参加（どちらのリンクからもアプリが開きます）
password-separately = 招待メールにパスワードは記載していません。パスワードは主催者から別の連絡手段（電話、チャット、対面など）でお送りします。
e2ee-notice = この会議はエンドツーエンド暗号化されています（サーバでは復号しません）。参加後、セキュリティ検証コードを全員で読み上げ、同じであることを確認してください。
cancelled-heading = 【中止】{ $title }
cancelled-notice = この会議は中止になりました。

## 別送するパスワードのメッセージ（別の連絡手段で送る。参加リンクは含めない）

password-message =
    会議「{ $title }」 { $start }
    会議番号: { $number }
    パスワード: { $password }
password-message-note = 参加リンクは招待メールで別にお送りします。このメッセージは転送しないでください。
