//! What simulated customers write: pre-sale questions, order tracking,
//! refunds and returns, complaints, in Chinese and English, with the
//! follow-ups a real customer sends after the first answer. `{order}` is
//! replaced by an order number.

/// What a conversation is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    Presale,
    Order,
    Refund,
    Complaint,
}

/// The customer's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}

/// Weights of the topics, in the order of [`Topic::ALL`] (a shop's usual mix).
pub const TOPIC_WEIGHTS: [u32; 4] = [30, 35, 22, 13];

impl Topic {
    pub const ALL: [Topic; 4] = [Topic::Presale, Topic::Order, Topic::Refund, Topic::Complaint];

    /// First messages.
    pub fn openers(self, lang: Lang) -> &'static [&'static str] {
        match (self, lang) {
            (Topic::Presale, Lang::Zh) => &[
                "你好，这款蓝牙耳机支持降噪吗？",
                "请问这件羽绒服有XL码吗？什么时候补货？",
                "这个电饭煲是220V的吗？保修多久？",
                "买两件有优惠吗？可以开发票吗？",
            ],
            (Topic::Presale, Lang::En) => &[
                "Hi, does this blender come with a warranty?",
                "Is the red hoodie available in size M?",
                "Do you ship to Singapore, and how long does it take?",
                "Can I use two coupons on one order?",
            ],
            (Topic::Order, Lang::Zh) => &[
                "我的快递到哪里了？订单号{order}",
                "订单{order}三天了还没发货，物流一直不更新",
                "请帮我查一下订单{order}的物流，谢谢",
            ],
            (Topic::Order, Lang::En) => &[
                "Where is my order? It's {order}.",
                "My parcel for order {order} hasn't moved in 4 days, can you check the delivery?",
                "Hi, order {order} shows delivered but I didn't get it. Where is my order?",
            ],
            (Topic::Refund, Lang::Zh) => &[
                "订单{order}的鞋子尺码不合适，想退货",
                "收到的杯子是碎的，申请退款，订单{order}",
                "退款申请提交五天了还没到账，订单{order}",
            ],
            (Topic::Refund, Lang::En) => &[
                "I'd like to return the jacket from order {order}, it doesn't fit.",
                "The item arrived damaged, I want a refund for {order}.",
                "How do I return a gift? Order {order}.",
            ],
            (Topic::Complaint, Lang::Zh) => &[
                "我要投诉！订单{order}客服一直不回复，东西也是坏的",
                "投诉快递员态度恶劣，包裹直接扔在门口，订单{order}",
                "第三次联系了，问题还没解决，我要投诉",
            ],
            (Topic::Complaint, Lang::En) => &[
                "This is a complaint: order {order} arrived broken and nobody answers my emails.",
                "I want to file a complaint about the courier, my parcel {order} was left in the rain.",
                "Third time I'm writing. I want to make a formal complaint.",
            ],
        }
    }

    /// Follow-ups after the first answer.
    pub fn follow_ups(self, lang: Lang) -> &'static [&'static str] {
        match (self, lang) {
            (Topic::Presale, Lang::Zh) => &["好的，那我下单了", "颜色有黑色的吗？", "谢谢，大概几天能到？"],
            (Topic::Presale, Lang::En) => &["Great, I'll order it today.", "Does it come in black?", "Thanks! How fast is shipping?"],
            (Topic::Order, Lang::Zh) => &["收到了，谢谢", "能帮我改一下收货地址吗？", "好的，我再等两天"],
            (Topic::Order, Lang::En) => &["Got it, thanks!", "Can you change the delivery address?", "OK, I'll wait two more days."],
            (Topic::Refund, Lang::Zh) => &["快递单号已经填好了", "退款大概几天到账？", "好的，已经寄回了"],
            (Topic::Refund, Lang::En) => &["I've sent it back, here's the tracking number.", "How long does the refund take?", "Thanks, label printed."],
            (Topic::Complaint, Lang::Zh) => &["希望今天能给我答复", "这个处理方案我不满意", "好吧，谢谢你的帮助"],
            (Topic::Complaint, Lang::En) => &["I expect an answer today.", "That's not good enough.", "OK, thank you for sorting it out."],
        }
    }

    /// The subject of an email about this.
    pub fn subject(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Topic::Presale, Lang::Zh) => "商品咨询",
            (Topic::Presale, Lang::En) => "Question about a product",
            (Topic::Order, Lang::Zh) => "订单物流查询",
            (Topic::Order, Lang::En) => "Where is my order?",
            (Topic::Refund, Lang::Zh) => "退货退款申请",
            (Topic::Refund, Lang::En) => "Return and refund",
            (Topic::Complaint, Lang::Zh) => "投诉",
            (Topic::Complaint, Lang::En) => "Complaint",
        }
    }
}

/// Names, by language.
pub fn names(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Zh => &["王芳", "李娜", "张伟", "刘洋", "陈静", "杨磊", "赵敏", "黄磊", "周杰", "吴婷"],
        Lang::En => &["Emma Brown", "Liam Smith", "Olivia Jones", "Noah Wilson", "Ava Taylor", "Mia Clark", "Lucas Hall"],
    }
}

/// What agents answer (the simulator does not read the question closely).
pub fn agent_lines(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Zh => &["您好，我来帮您处理。", "已经为您查询，请稍等。", "好的，已经为您登记，今天内处理。", "感谢您的耐心，还有其他问题吗？"],
        Lang::En => &["Hi, I'm on it.", "I've checked that for you, one moment.", "Done, it's sorted today.", "Thanks for your patience, anything else?"],
    }
}
