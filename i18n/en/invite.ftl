# Invitations for scheduled meetings (core/src/invite). Every id here must also be in
# ../ja/invite.ftl; a core test checks both files define the same ids.

## Dates: "Tuesday, 1 December 2026, 10:00 (Asia/Tokyo)"

weekday = { $day ->
    [mon] Monday
    [tue] Tuesday
    [wed] Wednesday
    [thu] Thursday
    [fri] Friday
    [sat] Saturday
   *[sun] Sunday
}
month-name = { $month ->
    [m1] January
    [m2] February
    [m3] March
    [m4] April
    [m5] May
    [m6] June
    [m7] July
    [m8] August
    [m9] September
    [m10] October
    [m11] November
   *[m12] December
}
date = { $day } { $month_name } { $year }
date-time-zone = { $weekday }, { $day } { $month_name } { $year }, { $time } ({ $zone })
list-separator = {", "}

## The invitation (plain text, HTML and the .ics DESCRIPTION)

label-when = When
label-duration = Duration
duration = { $minutes ->
    [one] 1 minute
   *[other] { $minutes } minutes
}
label-repeats = Repeats
recurrence-weekly = Every week on { $days }
recurrence-weekly-until = Every week on { $days }, until { $date }
recurrence-weekly-count = Every week on { $days }, { $count ->
    [one] once
   *[other] { $count } times
}
label-host = Host
label-number = Meeting number
label-password = Password
label-join = Join in the Conclave app (either link opens it)
password-separately = The meeting password is not in this invitation: the host sends it to you separately, by another channel (phone, chat or in person).
e2ee-notice = This meeting is end-to-end encrypted: the server relays it without being able to decrypt it. Once in, read the security verification code aloud and check that everyone sees the same one.
cancelled-heading = Cancelled: { $title }
cancelled-notice = This meeting has been cancelled.

## The separate password message (another channel; no join link)

password-message =
    Meeting "{ $title }", { $start }
    Meeting number: { $number }
    Password: { $password }
password-message-note = The invitation with the join link comes separately. Do not forward this message.
